"""The columns of a patch layer the class balance needs, read once into numpy and kept in step.

Reading 100,000 features through PyQGIS costs about half a second, so the dock reads a layer
once and then follows it: selection changes only pick rows, edits patch single cells. A file
layer with no pending edits is read through GDAL's Arrow stream (tens of milliseconds); any
other layer (memory, PostGIS, one with unsaved edits) through the layer's own feature iterator,
which sees the edit buffer and the subset string as QGIS does.
"""
from __future__ import annotations

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

    def __len__(self) -> int:
        return len(self.fids)

    def rows(self, fids) -> np.ndarray:
        """Sorted row indices of the given feature ids (ids not held are ignored)."""
        wanted = np.fromiter(fids, dtype=np.int64, count=len(fids))
        if not len(self.fids) or not len(wanted):
            return np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(self.fids, wanted).clip(max=len(self.fids) - 1)
        return np.unique(pos[self.fids[pos] == wanted])

    def set_value(self, fid: int, name: str, value) -> None:
        row = np.searchsorted(self.fids, fid)
        if name in self.data and row < len(self.fids) and self.fids[row] == fid:
            self.data[name][row] = _number(value)
        if name in self.labels and row < len(self.fids) and self.fids[row] == fid:
            self.labels[name][row] = _text(value)

    def insert(self, fid: int, values: dict[str, float]) -> None:
        row = int(np.searchsorted(self.fids, fid))
        if row < len(self.fids) and self.fids[row] == fid:
            self.fids = np.delete(self.fids, row)
            self.data = {n: np.delete(v, row) for n, v in self.data.items()}
            self.labels = {n: np.delete(v, row) for n, v in self.labels.items()}
        self.fids = np.insert(self.fids, row, fid)
        self.data = {n: np.insert(v, row, _number(values.get(n))) for n, v in self.data.items()}
        self.labels = {n: np.insert(v, row, _text(values.get(n))) for n, v in self.labels.items()}

    def delete(self, fids) -> None:
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
        pick = (lambda v: v) if rows is None else (lambda v: v[rows])
        n = len(self.fids) if rows is None else len(rows)
        fractions = np.stack([pick(self.data[f]) for f in self.class_fields], axis=1) if self.class_fields \
            else np.zeros((n, 0))
        labelled = labelled_pixels(pick(self.data["patch_size"]) if "patch_size" in self.data else None,
                                   pick(self.data["nodata_ratio"]) if "nodata_ratio" in self.data else None, n)
        weights = pick(self.data["sampler_weight"]) if self.has_weights else np.ones(n)
        excluded = pick(self.data["excluded"]) > 0 if "excluded" in self.data else None
        values = np.array([class_value(f) for f in self.class_fields], dtype=np.int64)
        return class_balance(values, fractions * labelled[:, None], weights, excluded)  # NaN (NULL) counts as 0


def read_feature(layer: QgsVectorLayer, fid: int) -> dict:
    feature = layer.getFeature(fid)
    values = {name: _number(feature[name]) for name in _wanted_fields(layer)}
    values.update({name: _text(feature[name]) for name in _text_fields(layer)})
    return values


def read_patch_columns(layer: QgsVectorLayer) -> PatchColumns:
    wanted, text = _wanted_fields(layer), _text_fields(layer)
    if not layer.isModified():
        columns = _read_with_arrow(layer, wanted, text)
        if columns is not None:
            return columns
    return _read_with_iterator(layer, wanted, text)


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
    if layer.providerType() != "ogr":
        return None
    try:
        from osgeo import ogr
    except ImportError:
        return None
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    batches: dict[str, list[np.ndarray]] = {}
    try:  # GDAL's Python bindings raise or return None depending on gdal.UseExceptions(): handle both
        dataset = ogr.Open(parts.get("path") or "", 0)
        if dataset is None:
            return None
        name, index = parts.get("layerName"), parts.get("layerId")
        source = dataset.GetLayerByName(name) if name else dataset.GetLayer(int(index or 0))
        if source is None or not hasattr(source, "GetArrowStreamAsNumPy"):
            return None
        if layer.subsetString() and source.SetAttributeFilter(layer.subsetString()) != 0:
            return None
        definition = source.GetLayerDefn()
        names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
        source.SetIgnoredFields([n for n in names if n not in wanted and n not in text] + ["OGR_GEOMETRY", "OGR_STYLE"])
        fid_name = source.GetFIDColumn() or "OGC_FID"
        stream = source.GetArrowStreamAsNumPy(options=["INCLUDE_FID=YES"])
        if stream is None:
            return None
        for batch in stream:
            for key, values in batch.items():
                # NULLs come as masked entries: NaN here, as from the iterator
                if key in text:  # strings come as bytes (None or masked where NULL)
                    values = np.array([_text(v) for v in np.ma.filled(np.ma.asarray(values, dtype=object), None)],
                                      dtype=object)
                batches.setdefault(key, []).append(np.ma.filled(np.ma.asarray(values, dtype=np.float64), np.nan)
                                                   if key in wanted else np.asarray(values))
    except (RuntimeError, ValueError, TypeError, AttributeError):
        return None
    if not batches:  # no feature passed the filter
        return PatchColumns(np.zeros(0, np.int64), {n: np.zeros(0) for n in wanted}, {n: [] for n in text})
    if fid_name not in batches or any(n not in batches for n in (*wanted, *text)):
        return None
    return PatchColumns(np.concatenate(batches[fid_name]), {n: np.concatenate(batches[n]) for n in wanted},
                        {n: np.concatenate(batches[n]) for n in text})
