"""The columns of a patch layer the class balance needs, read once into numpy and kept in step.

Reading 100,000 features through PyQGIS costs about half a second, so the dock reads a layer
once and then follows it: selection changes only pick rows, edits patch single cells. A file
layer with no pending edits is read through GDAL's Arrow stream (tens of milliseconds), in a
worker thread (GDAL lets go of the GIL) so the dock reads the legend meanwhile; any other layer
(memory, PostGIS, one with unsaved edits) through the layer's own feature iterator, in the main
thread, which sees the edit buffer and the subset string as QGIS does.

The class fractions × labelled pixels the balance needs are kept as one column-major matrix
(each class contiguous: numpy's reductions over patches run several times faster than on a
row-major stack) and patched row by row on edits; the balance of all patches is kept until a
value changes, so a new selection that does not restrict the figures costs no recomputation.
"""
from __future__ import annotations

import threading
from operator import itemgetter

import numpy as np
from qgis.core import NULL, QgsFeatureRequest, QgsProviderRegistry, QgsRasterLayer, QgsVectorLayer

from ..balance_core.class_balance import ClassBalance, class_balance, labelled_pixels
from ..balance_core.patch_records import JSON_FIELDS, class_value

OPTIONAL_FIELDS = ("patch_size", "nodata_ratio", "excluded", "sampler_weight")
TEXT_FIELDS = ("split",)  # read as text: the dock can restrict its numbers to one split


def patch_layer_problem(layer) -> str | None:
    """Why a layer cannot be shown (one short sentence for the dock), or None for a patch layer."""
    if layer is None:
        return "No layer is selected. Select a patch layer in the Layers panel."
    name = layer.name()
    if isinstance(layer, QgsRasterLayer):
        return (f"“{name}” is a raster. Select the patch layer that Patch Balancer wrote for it "
                "(Build balanced dataset, or Create patch grid → Compute class composition).")
    if not isinstance(layer, QgsVectorLayer):
        return f"“{name}” is not a vector layer, so it holds no patches."
    names = layer.fields().names()
    if any(class_value(n) is not None for n in names):
        return None
    if any(n in names for n in JSON_FIELDS):
        return (f"“{name}” holds its classes as JSON text only. Run 'Compute sampler weights' on it: "
                "its output has one c_<class> fraction field per class, which the dock reads.")
    return (f"“{name}” is not a patch layer: it has no c_<class> fraction fields. Make one with "
            "'Build balanced dataset', or 'Create patch grid' then 'Compute class composition'.")


def _wanted_fields(layer: QgsVectorLayer) -> list[str]:
    names = layer.fields().names()
    return [n for n in names if class_value(n) is not None] + [n for n in OPTIONAL_FIELDS if n in names]


def _text_fields(layer: QgsVectorLayer) -> list[str]:
    names = layer.fields().names()
    return [n for n in TEXT_FIELDS if n in names]


def _text(value) -> str:
    if value is None or value == NULL:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value).strip()


def _number(value) -> float:
    if value is None or value == NULL:
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


class PatchColumns:
    """Feature ids (sorted), one float column per wanted field (NaN = NULL) and the text columns (`split`;
    '' = NULL); mutable, one per layer."""

    def __init__(self, fids: np.ndarray, data: dict[str, np.ndarray], labels: dict | None = None) -> None:
        fids = np.asarray(fids, dtype=np.int64)
        data = {name: np.asarray(values, dtype=np.float64) for name, values in data.items()}
        labels = {name: np.array([_text(v) for v in values], dtype=object) for name, values in (labels or {}).items()}
        if len(fids) > 1 and not (fids[1:] > fids[:-1]).all():  # providers usually hand them in order
            order = np.argsort(fids, kind="stable")
            fids, data = fids[order], {name: values[order] for name, values in data.items()}
            labels = {name: values[order] for name, values in labels.items()}
        self.fids, self.data, self.labels = fids, data, labels
        self.class_fields = sorted((n for n in self.data if class_value(n) is not None), key=class_value)
        self._counts: np.ndarray | None = None  # (patches, classes), column-major: fraction × labelled pixels
        self._whole: ClassBalance | None = None  # the balance of all patches, until a value changes

    def __len__(self) -> int:
        return len(self.fids)

    def rows(self, fids) -> np.ndarray:
        """Sorted row indices of the given feature ids (ids not held are ignored)."""
        wanted = np.fromiter(fids, dtype=np.int64, count=len(fids))
        n = len(self.fids)
        if not n or not len(wanted):
            return np.zeros(0, dtype=np.int64)
        first = self.fids[0]
        if self.fids[-1] - first == n - 1:  # ids first..first+n-1 (a file layer as written): row = id - first
            pos = wanted - first
            pos = pos[(pos >= 0) & (pos < n)]
        else:
            pos = np.searchsorted(self.fids, wanted).clip(max=n - 1)
            pos = pos[self.fids[pos] == wanted]
        picked = np.zeros(n, dtype=bool)  # sorted and unique in one pass, no sort
        picked[pos] = True
        return np.flatnonzero(picked)

    def set_value(self, fid: int, name: str, value) -> None:
        row = np.searchsorted(self.fids, fid)
        if row >= len(self.fids) or self.fids[row] != fid:
            return
        if name in self.data:
            self.data[name][row] = _number(value)
            self._whole = None
            if self._counts is not None and (name in self.class_fields or name in ("patch_size", "nodata_ratio")):
                self._counts[row] = self._count_rows(np.array([row]))[0]
        if name in self.labels:
            self.labels[name][row] = _text(value)

    def _changed(self) -> None:
        self._counts = self._whole = None

    def _count_rows(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Class fraction × labelled pixels, (rows, classes) column-major; every row when `rows` is None."""
        pick = (lambda v: v) if rows is None else (lambda v: v[rows])
        n = len(self.fids) if rows is None else len(rows)
        labelled = labelled_pixels(pick(self.data["patch_size"]) if "patch_size" in self.data else None,
                                   pick(self.data["nodata_ratio"]) if "nodata_ratio" in self.data else None, n)
        counts = np.empty((n, len(self.class_fields)), dtype=np.float64, order="F")
        for j, name in enumerate(self.class_fields):
            np.multiply(pick(self.data[name]), labelled, out=counts[:, j])
        return counts

    def counts(self) -> np.ndarray:
        """Class fraction × labelled pixels of every patch (NaN where a fraction is NULL), kept until a change."""
        if self._counts is None:
            self._counts = self._count_rows()
        return self._counts

    def insert(self, fid: int, values: dict[str, float]) -> None:
        self._changed()
        row = int(np.searchsorted(self.fids, fid))
        if row < len(self.fids) and self.fids[row] == fid:
            self.fids = np.delete(self.fids, row)
            self.data = {n: np.delete(v, row) for n, v in self.data.items()}
            self.labels = {n: np.delete(v, row) for n, v in self.labels.items()}
        self.fids = np.insert(self.fids, row, fid)
        self.data = {n: np.insert(v, row, _number(values.get(n))) for n, v in self.data.items()}
        self.labels = {n: np.insert(v, row, _text(values.get(n))) for n, v in self.labels.items()}

    def delete(self, fids) -> None:
        self._changed()
        keep = ~np.isin(self.fids, np.fromiter(fids, dtype=np.int64, count=len(fids)))
        self.fids = self.fids[keep]
        self.data = {n: v[keep] for n, v in self.data.items()}
        self.labels = {n: v[keep] for n, v in self.labels.items()}

    def split_values(self) -> list[str]:
        """The distinct non-empty values of the `split` field, training first (as Split patches lists them)."""
        values = set(self.labels["split"].tolist()) - {""} if "split" in self.labels else set()
        order = {"train": 0, "val": 1, "test": 2}
        return sorted(values, key=lambda v: (order.get(v, 3), v))

    def split_rows(self, value: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Row indices of the patches of one split (among `rows`, e.g. the selection's, when given)."""
        mine = np.flatnonzero(self.labels["split"] == value) if "split" in self.labels else np.zeros(0, np.int64)
        return mine if rows is None else np.intersect1d(mine, rows)

    @property
    def has_weights(self) -> bool:
        return "sampler_weight" in self.data

    def balance(self, rows: np.ndarray | None = None) -> ClassBalance:
        """The balance of all patches, or of the given rows as if they were the whole dataset."""
        if rows is None and self._whole is not None:
            return self._whole
        counts = self.counts()
        if rows is not None:  # column by column: the picked matrix stays column-major
            picked = np.empty((len(rows), counts.shape[1]), dtype=np.float64, order="F")
            for j in range(counts.shape[1]):
                np.take(counts[:, j], rows, out=picked[:, j])
            counts = picked
        pick = (lambda v: v) if rows is None else (lambda v: v[rows])
        n = len(counts)
        weights = pick(self.data["sampler_weight"]) if self.has_weights else np.ones(n)
        excluded = pick(self.data["excluded"]) > 0 if "excluded" in self.data else None
        values = np.array([class_value(f) for f in self.class_fields], dtype=np.int64)
        balance = class_balance(values, counts, weights, excluded)  # NaN (NULL) counts as 0
        if rows is None:
            self._whole = balance
        return balance


def read_feature(layer: QgsVectorLayer, fid: int) -> dict:
    feature = layer.getFeature(fid)
    values = {name: _number(feature[name]) for name in _wanted_fields(layer)}
    values.update({name: _text(feature[name]) for name in _text_fields(layer)})
    return values


def read_patch_columns(layer: QgsVectorLayer) -> PatchColumns:
    return start_reading(layer)()


def start_reading(layer: QgsVectorLayer):
    """Start reading the layer's columns; returns a function that waits for them and returns them.

    An unedited OGR file layer is read by GDAL in a worker thread (the layer's settings are taken here, in
    the calling thread): call the returned function from the thread that called this one, which falls back
    to the feature iterator there when the Arrow read does not apply.
    """
    wanted, text = _wanted_fields(layer), _text_fields(layer)
    source = None if layer.isModified() else _arrow_source(layer)
    if source is None:
        return lambda: _read_with_iterator(layer, wanted, text)
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["columns"] = _read_arrow_source(*source, wanted, text)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, which raises it
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="patch-balancer-arrow-read", daemon=True)
    worker.start()

    def wait() -> PatchColumns:
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        columns = outcome.get("columns")
        return columns if columns is not None else _read_with_iterator(layer, wanted, text)
    return wait


def _read_with_iterator(layer: QgsVectorLayer, wanted: list[str], text=()) -> PatchColumns:
    fields = layer.fields()
    indices = [fields.indexOf(n) for n in wanted]
    text_indices = [fields.indexOf(n) for n in text]
    request = QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry).setSubsetOfAttributes(indices + text_indices)
    pick = itemgetter(*indices) if len(indices) > 1 else (lambda values: (values[indices[0]],))
    labels = {n: [] for n in text}
    rows = []
    for feature in layer.getFeatures(request):
        attributes = feature.attributes()
        rows.append((feature.id(), *pick(attributes)))
        for n, i in zip(text, text_indices):
            labels[n].append(attributes[i])
    try:
        table = np.array(rows, dtype=np.float64).reshape(len(rows), len(wanted) + 1)
    except (TypeError, ValueError):  # a NULL (or a non-number): the slow way, cell by cell
        table = np.array([[_number(v) for v in row] for row in rows], dtype=np.float64).reshape(len(rows), -1)
    return PatchColumns(table[:, 0].astype(np.int64), {n: table[:, j + 1] for j, n in enumerate(wanted)}, labels)


def _read_with_arrow(layer: QgsVectorLayer, wanted: list[str], text=()) -> PatchColumns | None:
    """GDAL ≥ 3.6 Arrow read of an OGR file layer; None where it does not apply (then iterate)."""
    source = _arrow_source(layer)
    return None if source is None else _read_arrow_source(*source, wanted, text)


def _arrow_source(layer: QgsVectorLayer) -> tuple[str, str | None, str | None, str] | None:
    """(path, layer name, layer index, subset string) of an OGR layer, read in the layer's thread; None for
    another provider."""
    if layer.providerType() != "ogr":
        return None
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    return parts.get("path") or "", parts.get("layerName"), parts.get("layerId"), layer.subsetString()


def _column(values, as_number: bool) -> np.ndarray:
    """One batch's column: NULLs come as masked entries, NaN here (as from the iterator); strings as bytes
    (None or masked where NULL), '' here."""
    if not as_number:
        return np.array([_text(v) for v in np.ma.filled(np.ma.asarray(values, dtype=object), None)], dtype=object)
    if isinstance(values, np.ma.MaskedArray):
        return np.ma.filled(values.astype(np.float64), np.nan)
    return np.asarray(values, dtype=np.float64)


def _read_arrow_source(path: str, name: str | None, index: str | None, subset: str, wanted: list[str],
                       text=()) -> PatchColumns | None:
    """The Arrow read itself: GDAL only, no QGIS object, so it may run in a worker thread."""
    try:
        from osgeo import ogr
    except ImportError:
        return None
    batches: dict[str, list[np.ndarray]] = {}
    try:  # GDAL's Python bindings raise or return None depending on gdal.UseExceptions(): handle both
        dataset = ogr.Open(path, 0)
        if dataset is None:
            return None
        source = dataset.GetLayerByName(name) if name else dataset.GetLayer(int(index or 0))
        if source is None or not hasattr(source, "GetArrowStreamAsNumPy"):
            return None
        if subset and source.SetAttributeFilter(subset) != 0:
            return None
        definition = source.GetLayerDefn()
        names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
        source.SetIgnoredFields([n for n in names if n not in wanted and n not in text] + ["OGR_GEOMETRY", "OGR_STYLE"])
        fid_name = source.GetFIDColumn() or "OGC_FID"
        # Numbers are copied batch by batch into arrays made for the known count, and each batch let go before
        # the next: GDAL's next batch reuses its memory (fresh pages cost a fault each: a fifth of the read).
        expected = source.GetFeatureCount(0) if not subset else -1  # -1: not known without a scan
        filled = _Filled(expected, [fid_name, *wanted])
        stream = source.GetArrowStreamAsNumPy(options=["INCLUDE_FID=YES", f"MAX_FEATURES_IN_BATCH={ARROW_BATCH}"])
        if stream is None:
            return None
        for batch in stream:
            if any(n not in batch for n in (fid_name, *wanted, *text)):
                return None
            filled.add({key: _column(batch[key], True) if key in wanted else np.asarray(batch[key])
                        for key in (fid_name, *wanted)})
            for key in text:
                batches.setdefault(key, []).append(_column(batch[key], False))
            del batch
        stream = source = dataset = None  # the stream before its layer, the layer before its dataset
    except (RuntimeError, ValueError, TypeError, AttributeError):
        return None
    numbers = filled.arrays()
    return PatchColumns(numbers[fid_name].astype(np.int64, copy=False), {n: numbers[n] for n in wanted},
                        {n: np.concatenate(batches[n]) if n in batches else [] for n in text})


ARROW_BATCH = 16_384  # rows per Arrow batch: small enough that the batches reuse each other's memory


class _Filled:
    """Columns filled batch by batch: into arrays of the expected length, else (unknown or wrong) by concatenation."""

    def __init__(self, expected: int, names: list[str]) -> None:
        self.names, self.size, self.at = names, max(expected, 0), 0
        self.columns: dict[str, np.ndarray] | None = None if expected < 0 else {}
        self.pieces: dict[str, list[np.ndarray]] = {name: [] for name in names}

    def add(self, batch: dict[str, np.ndarray]) -> None:
        rows = len(batch[self.names[0]])
        if self.columns is not None and self.at + rows <= self.size:
            for name in self.names:
                column = self.columns.get(name)
                if column is None:  # made at the first batch, in the batch's type (the fid is an integer)
                    column = self.columns[name] = np.empty(self.size, dtype=batch[name].dtype)
                column[self.at:self.at + rows] = batch[name]
            self.at += rows
            return
        for name in self.names:  # more rows than counted: keep the pieces
            self.pieces[name].append(np.array(batch[name]))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for name in self.names:
            head = self.columns[name][:self.at] if self.columns and name in self.columns else None
            parts = ([head] if head is not None else []) + self.pieces[name]
            out[name] = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else \
                np.zeros(0, np.int64 if name == self.names[0] else np.float64)
        return out
