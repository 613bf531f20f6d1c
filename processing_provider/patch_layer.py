"""Patch layers in and out of Processing: any vector source → patch table; patch table → styled sink.

Fields the plugin does not own (an analyst's notes, a split column) are carried through
every step unchanged, after the plugin's own fields.
"""
from __future__ import annotations

import functools
import glob
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from osgeo import ogr
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputLayerDefinition,
    QgsProviderRegistry,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QMetaType, QVariant

from ..balance_core.errors import BalanceError, CancelledError
from ..balance_core.legend import Legend, class_name, legend_to_json
from ..balance_core.patch_records import class_value, table_from_records
from ..balance_core import gpkg_bulk, gpkg_geometry, staged_outputs
from ..balance_core.schema import FLOAT, INT, OWN_FIELDS, TEXT, Column, class_field, output_columns
from ..balance_core.table import PatchTable
from .destinations import LAYER_FORMATS, MAX_FIELDS, output_definition, sink_destination
from .gpkg_layers import layer_count, replace_layer, store_default_style
from .styling import LEGEND_PROPERTY, STYLE_NAME, TARGET_PROPERTY, PatchLayerStyler, sampler_weight_renderer, style_documents, style_layer

def qt_field_type(name: str):
    """A field type QgsField takes: QVariant.Type under Qt5 (QGIS 3), QMetaType.Type under Qt6 (QGIS 4, where
    QVariant has no type enum any more)."""
    legacy = getattr(QVariant, name, None)
    return legacy if legacy is not None else getattr(QMetaType.Type, {"String": "QString"}.get(name, name))


QVARIANT_TYPES = {INT: qt_field_type("LongLong"), FLOAT: qt_field_type("Double")}
BATCH = 2000


@dataclass
class PatchSource:
    table: PatchTable
    geometries: list  # QgsGeometry per row
    crs: QgsCoordinateReferenceSystem
    extra_fields: QgsFields = field(default_factory=QgsFields)
    extra_values: list = field(default_factory=list)  # per row, values of extra_fields
    layer: QgsVectorLayer | None = None  # the layer behind the source, for its stored legend


PASSWORD = re.compile(r"""(password\s*=\s*)('[^']*'|"[^"]*"|\S+)|(://[^:/@\s]+:)[^@\s]+@""", re.IGNORECASE)


def safe_source_name(text) -> str:
    """A data source string (or message quoting one) with any password masked (PostGIS URIs may hold one)."""
    return PASSWORD.sub(lambda m: (m.group(1) + "***") if m.group(1) else (m.group(3) + "***@"), str(text))


def _plain(value):
    return None if value is None or (isinstance(value, QVariant) and value.isNull()) else value


ARROW_READS = True  # False: every patch layer is read through QGIS's feature iterator (the bench compares)
ARROW_FIELD_TYPES = {qt_field_type(t) for t in ("LongLong", "Int", "Double", "String", "Bool")}


def read_patch_source(alg, parameters, key, context, feedback, *, need_windows=False, need_composition=False) -> PatchSource:
    source = alg.parameterAsSource(parameters, key, context)
    if source is None:
        raise QgsProcessingException(alg.tr("The patch layer could not be loaded: {}").format(
            safe_source_name(parameters.get(key))))
    fields = source.fields()
    names = fields.names()
    extra_idx = [i for i, n in enumerate(names)
                 if n not in OWN_FIELDS and class_value(n) is None and n.lower() not in ("fid", "ogc_fid")]
    layer = alg.parameterAsVectorLayer(parameters, key, context)
    read = _read_with_arrow(alg, parameters, key, context, feedback, layer, fields) if ARROW_READS else None
    if read is None:
        read = _read_with_iterator(alg, source, fields, feedback)
    columns, geometries = read
    extra_values = [list(row) for row in zip(*[columns[names[j]] for j in extra_idx])] if extra_idx else \
        [[] for _ in geometries]
    try:
        table = table_from_records(columns, need_windows=need_windows, need_composition=need_composition)
    except BalanceError as exc:
        raise QgsProcessingException(str(exc)) from exc
    extra = QgsFields()
    for j in extra_idx:
        extra.append(fields.at(j))
    return PatchSource(table, geometries, source.sourceCrs(), extra, extra_values, layer)


def _read_with_iterator(alg, source, fields, feedback) -> tuple:
    """(column name → values, geometries) through QGIS's feature iterator: any source, edits and filters included."""
    names = fields.names()
    columns = {n: [] for n in names}
    blobs = []
    total = max(source.featureCount(), 1)
    for i, feature in enumerate(source.getFeatures(QgsFeatureRequest())):
        if i % 1000 == 0:
            if feedback.isCanceled():
                raise QgsProcessingException(alg.tr("Cancelled by the user while reading the patch layer."))
            feedback.setProgress(10.0 * i / total)
        for name, value in zip(names, feature.attributes()):
            columns[name].append(_plain(value))
        geometry = feature.geometry()
        blobs.append(None if geometry.isNull() else bytes(geometry.asWkb()))
    return columns, WkbGeometries(blobs)


def _arrow_column(values) -> list:
    """An Arrow column as the iterator gives it: Python values, None for NULL, text decoded."""
    mask = np.ma.getmaskarray(values) if isinstance(values, np.ma.MaskedArray) else None
    values = np.ma.getdata(values)
    if values.dtype.kind == "S":
        out = np.char.decode(values, "utf-8").tolist()
    elif values.dtype.kind == "O":
        out = [v.decode("utf-8") if isinstance(v, bytes) else v for v in values.tolist()]
    else:
        out = values.tolist()
    if mask is not None and mask.any():
        out = [None if m else v for v, m in zip(out, mask.tolist())]
    return out


def _plain_request(parameters, key, context, layer) -> bool:
    """Whether the source is the whole layer as it is on disk: no selection, limit, filter or unsaved edit,
    and no geometry check that could drop a feature (only rectangles are let through otherwise: see caller)."""
    from qgis.core import QgsProcessingFeatureSourceDefinition

    value = parameters.get(key)
    if isinstance(value, QgsProcessingFeatureSourceDefinition):
        if value.selectedFeaturesOnly or value.featureLimit != -1 or getattr(value, "filterExpression", ""):
            return False
    return layer is not None and layer.providerType() == "ogr" and not layer.isModified() and layer.isValid()


def _read_with_arrow(alg, parameters, key, context, feedback, layer, fields):
    """(column name → values, geometries) of an unedited OGR file layer through GDAL's Arrow stream (GDAL ≥ 3.6):
    whole columns at once, the same values as the iterator. None where it does not apply (then iterate)."""
    if not _plain_request(parameters, key, context, layer):
        return None
    if any(fields.at(i).type() not in ARROW_FIELD_TYPES for i in range(fields.count())):
        return None
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    batches: dict = {}
    dataset = ogr.Open(parts.get("path") or "", 0) if parts.get("path") else None
    if dataset is None:
        return None
    name, index = parts.get("layerName"), parts.get("layerId")
    ogr_layer = dataset.GetLayerByName(name) if name else dataset.GetLayer(int(index or 0))
    if ogr_layer is None or not hasattr(ogr_layer, "GetArrowStreamAsNumPy"):
        return None
    if layer.subsetString() and ogr_layer.SetAttributeFilter(layer.subsetString()) != 0:
        return None
    geometry_name = ogr_layer.GetGeometryColumn() or "wkb_geometry"
    total = max(ogr_layer.GetFeatureCount(), 1)
    done = 0
    try:
        stream = ogr_layer.GetArrowStreamAsNumPy(options=["INCLUDE_FID=YES"])
        if stream is None:
            return None
        for batch in stream:
            if feedback.isCanceled():
                raise QgsProcessingException(alg.tr("Cancelled by the user while reading the patch layer."))
            for column, values in batch.items():
                batches.setdefault(column, []).append(values)
            done += len(next(iter(batch.values()))) if batch else 0
            feedback.setProgress(10.0 * done / total)
    except (RuntimeError, ValueError, TypeError, AttributeError):
        return None
    names = fields.names()
    if any(n not in batches for n in names) or (batches and geometry_name not in batches):
        return None
    columns = {n: [v for part in batches[n] for v in _arrow_column(part)] if len(batches[n]) > 1
               else _arrow_column(batches[n][0]) for n in names}
    geometries = _arrow_geometries(batches.get(geometry_name, []))
    if len(geometries) != (len(columns[names[0]]) if names else len(geometries)):
        return None
    if context.invalidGeometryCheck() != QgsFeatureRequest.GeometryNoCheck and not _rectangles(geometries):
        return None  # QGIS's check could drop or refuse a feature: let the iterator apply it
    return columns, geometries


def _arrow_geometries(parts: list) -> WkbGeometries:
    blobs = []
    for part in parts:
        mask = np.ma.getmaskarray(part) if isinstance(part, np.ma.MaskedArray) else None
        data = np.ma.getdata(part)
        if data.dtype.kind == "V":  # all of one size: one buffer
            size = data.dtype.itemsize
            raw = data.tobytes()
            part_blobs = [raw[i:i + size] for i in range(0, len(raw), size)]
        else:
            part_blobs = [None if v is None else bytes(v) for v in data.tolist()]
        if mask is not None and mask.any():
            part_blobs = [None if m else b for b, m in zip(part_blobs, mask.tolist())]
        blobs += part_blobs
    return WkbGeometries(blobs)


def _rectangles(geometries: WkbGeometries) -> bool:
    """Every geometry a closed axis-aligned rectangle with a non-zero area (valid whatever QGIS checks)."""
    records = geometries.records
    if records is None:
        return not len(geometries)
    xy = records["xy"]
    x, y = xy[:, :, 0], xy[:, :, 1]
    closed = (xy[:, 0] == xy[:, 4]).all()
    xs_two = ((x == x.min(axis=1, keepdims=True)) | (x == x.max(axis=1, keepdims=True))).all()
    ys_two = ((y == y.min(axis=1, keepdims=True)) | (y == y.max(axis=1, keepdims=True))).all()
    area = ((x.max(axis=1) > x.min(axis=1)) & (y.max(axis=1) > y.min(axis=1))).all()
    edges = ((np.diff(x, axis=1) == 0) | (np.diff(y, axis=1) == 0)).all()
    return bool(closed and xs_two and ys_two and area and edges)


def patch_columns(table: PatchTable, max_fields: int | None = None, extra_count: int = 0) -> list:
    """The layer's columns; when a format cannot hold one field per class, the fractions go into one
    `class_dist_json` text (full precision: the next step reads it back exactly) instead of `c_*` fields."""
    columns = output_columns(table)
    if max_fields is None or len(columns) + extra_count <= max_fields or table.class_counts is None:
        return columns
    own = [c for c in columns if class_value(c.name) is None]
    fractions, keys = table.fractions(), [str(int(v)) for v in table.class_values]
    texts = np.array([json.dumps({k: float(f) for k, f in zip(keys, row) if f > 0}, separators=(",", ":"))
                      for row in fractions], dtype=object)
    return own + [Column("class_dist_json", TEXT, texts)]


def patch_fields(columns: list, extra: QgsFields | None = None) -> QgsFields:
    fields = QgsFields()
    for column in columns:
        fields.append(QgsField(column.name, QVARIANT_TYPES.get(column.kind, qt_field_type("String"))))
    for i in range(extra.count() if extra is not None else 0):
        fields.append(extra.at(i))
    return fields


def target_shares_json(table: PatchTable) -> str:
    """class_balance's target share per class value, for the dock ('' for other methods)."""
    calibration = table.calibration
    if calibration is None:
        return ""
    return json.dumps({str(int(v)): float(t) for v, t in zip(table.class_values, calibration.target_share) if t > 0})


def class_aliases(table: PatchTable, legend: Legend) -> dict:
    return {class_field(int(v)): class_name(legend, v) for v in table.class_values if int(v) in legend}


class Footprints(Sequence):
    """Polygons as one array of WKB records (`gpkg_geometry.POLYGON_WKB`): a QgsGeometry is made only when asked
    for, and a GeoPackage output takes the records as they are (`gpkg_bulk`)."""

    def __init__(self, records: np.ndarray):
        self.records = records
        self._raw, self._size = records.tobytes(), records.dtype.itemsize

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]
        geometry = QgsGeometry()
        geometry.fromWkb(self._raw[i * self._size:(i + 1) * self._size])
        return geometry

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class WkbGeometries(Sequence):
    """Geometries as the WKB blobs an OGR layer gave (None: no geometry), made QgsGeometry when asked for."""

    def __init__(self, blobs: list):
        self.blobs = blobs
        self._records = False

    @property
    def records(self):
        """The blobs as polygon records when every one is a single-ring 5-point polygon (else None)."""
        if self._records is False:
            self._records = gpkg_geometry.records_from_wkb(self.blobs)
        return self._records

    def __len__(self) -> int:
        return len(self.blobs)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        geometry = QgsGeometry()
        blob = self.blobs[i]
        if blob is not None:
            geometry.fromWkb(bytes(blob))
        return geometry

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def polygon_wkb(rings: np.ndarray) -> Footprints:
    """Polygons (one ring of 5 points each) from little-endian WKB built for all patches at once."""
    return Footprints(gpkg_geometry.polygon_records(rings))


def write_features(sink, fields, rows, geometries, extra_values, feedback, what: str) -> str:
    """Add one feature per row; '' when done, else why not (cancelled, or the sink refused a batch).

    Returning instead of raising lets the caller close the sink before failing: a traceback would
    keep this frame, and the open sink, alive. `geometries` may be None (a table without geometry).
    """
    n = len(rows)
    for start in range(0, n, BATCH):
        if feedback.isCanceled():
            return f"Cancelled by the user while writing the {what}; nothing was written."
        batch = []
        for i in range(start, min(start + BATCH, n)):
            feature = QgsFeature(fields)
            if geometries is not None:
                feature.setGeometry(geometries[i])
            feature.setAttributes(list(rows[i]) + (list(extra_values[i]) if extra_values else []))
            batch.append(feature)
        if not sink.addFeatures(batch, QgsFeatureSink.FastInsert):
            return f"The {what} could not be written ({sink.lastError() or 'no reason given'}); nothing was changed."
        feedback.setProgress(90.0 + 10.0 * min(start + BATCH, n) / n)
    return ""


@dataclass
class SinkHandle:
    """One output's sink: staged beside its file (see `staged_outputs`), or QGIS's own for memory/databases."""

    sink: object
    dest_id: str
    dest: object  # destinations.Destination
    path: str = ""  # the staged file ('' when not staged)


def open_sink(alg, parameters, key, context, fields, geometry_type, crs, what: str) -> SinkHandle:
    """The sink for output `key`; a file output is written to a staged file beside its target."""
    dest = sink_destination(alg, parameters, key, context)
    outputs = staged_outputs.active()
    if outputs is None or dest.kind not in ("file", "layer"):
        sink, dest_id = alg.parameterAsSink(parameters, key, context, fields, geometry_type, crs)
        path = ""
    else:
        path = outputs.path_for(dest.path)
        try:
            sink, dest_id = alg.parameterAsSink({**parameters, key: output_definition(dest, path)}, key, context,
                                                fields, geometry_type, crs)
        except QgsProcessingException as exc:
            raise QgsProcessingException(alg.tr("The {} could not be created beside {} ({}{}); nothing was "
                                                "changed.").format(what, dest.path, exc, _free_space(dest.path))) from exc
    if sink is None:
        raise QgsProcessingException(alg.invalidSinkError(parameters, key))
    return SinkHandle(sink, dest_id, dest, path)


def close_sink(alg, context, handle: SinkHandle, expected: int, what: str, layer_name: str, style=None) -> str:
    """Check a staged output holds every feature, store its style, and have it put in place (and loaded, when
    asked) at commit; returns the destination id. `style`: (renderer, aliases, properties, fields) or None."""
    dest, path = handle.dest, handle.path
    handle.sink = None  # closes the file
    renderer, aliases, properties = (style[0], style[1], style[2]) if style else (None, {}, {})
    if not path:
        memory_layer = context.temporaryLayerStore().mapLayer(handle.dest_id)  # TEMPORARY_OUTPUT: style it now
        if memory_layer is not None and style:
            style_layer(memory_layer, renderer, aliases, properties)
        _style_when_loaded(alg, context, handle.dest_id, renderer, layer_name, aliases, properties)
        return handle.dest_id
    written = layer_count(path, dest.layer) if dest.extension in LAYER_FORMATS else expected
    if written != expected:
        raise QgsProcessingException(alg.tr(
            "The {} could not be written completely ({} of {} features{}); nothing was changed.").format(
                what, max(written, 0), expected, _free_space(dest.path)))
    if dest.extension in LAYER_FORMATS and style:
        qml, sld = style_documents(style[3], renderer, aliases, properties)
        try:
            store_default_style(path, dest.layer, STYLE_NAME, qml, sld, "Patch Balancer patch layer")
        except BalanceError as exc:
            raise QgsProcessingException(str(exc)) from exc
    outputs = staged_outputs.active()
    if dest.kind == "layer" and os.path.exists(dest.path):
        outputs.on_commit(dest.path, functools.partial(replace_layer, path, dest.layer, dest.path))
    else:
        outputs.replace_on_commit(path, dest.path, _sidecar_extensions(path))
    final_id = f"{dest.path}|layername={dest.layer}" if dest.kind == "layer" else dest.path
    outputs.after_commit(functools.partial(_load_when_asked, alg, context, dest, final_id, renderer, layer_name,
                                           aliases, properties))
    return final_id


BULK_WRITES = True  # False: every patch layer goes through QGIS's feature sink (bench/bench_writes.py compares)
OGR_FIELD_TYPES = {qt_field_type("LongLong"): (ogr.OFTInteger64, ogr.OFSTNone), qt_field_type("Int"): (ogr.OFTInteger, ogr.OFSTNone),
                   qt_field_type("Double"): (ogr.OFTReal, ogr.OFSTNone), qt_field_type("String"): (ogr.OFTString, ogr.OFSTNone),
                   qt_field_type("Bool"): (ogr.OFTInteger, ogr.OFSTBoolean)}
PLAIN_CELLS = (int, float, str)


def _field_specs(fields: QgsFields) -> list | None:
    """The OGR fields QGIS's GeoPackage writer would make of `fields`; None when one is of another type."""
    specs = []
    for i in range(fields.count()):
        field = fields.at(i)
        kind = OGR_FIELD_TYPES.get(field.type())
        if kind is None:
            return None
        width = max(field.length(), 0) if kind[0] == ogr.OFTString else 0
        specs.append(gpkg_bulk.FieldSpec(field.name(), kind[0], width, kind[1]))
    return specs


def _extra_column(extra_values: list, j: int) -> list | None:
    """Column `j` of the carried fields as plain Python values (None for NULL); None when a cell is not plain."""
    out = []
    for row in extra_values:
        value = _plain(row[j])
        if value is not None and not isinstance(value, PLAIN_CELLS):
            return None
        out.append(int(value) if isinstance(value, bool) else value)
    return out


def write_bulk(alg, parameters, key, context, feedback, crs, columns, fields, extra_count, extra_values, geometries,
               what: str):
    """Write the layer straight into its staged GeoPackage in one transaction (`gpkg_bulk`); None when this
    output does not take that path (not a GeoPackage file, a geometry other than a 5-point ring, a field type
    other than integer/real/text/boolean): then the caller uses QGIS's feature sink."""
    outputs = staged_outputs.active()
    if not BULK_WRITES or outputs is None:
        return None
    dest = sink_destination(alg, parameters, key, context)
    if dest.kind not in ("file", "layer") or dest.extension not in LAYER_FORMATS:
        return None
    records = getattr(geometries, "records", None)
    specs = _field_specs(fields)
    if records is None or specs is None:
        return None
    values = [c.as_list() for c in columns]
    for j in range(extra_count):
        column = _extra_column(extra_values, j)
        if column is None:
            return None
        values.append(column)
    path = outputs.path_for(dest.path)
    srs = "" if not crs.isValid() else crs.authid() if crs.authid().upper().startswith("EPSG:") else \
        crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL)  # as QGIS's writer stores them
    try:
        gpkg_bulk.write_layer(path, dest.layer, srs, specs, values, records, feedback.isCanceled,
                              lambda done: feedback.setProgress(90.0 + 10.0 * done))
    except CancelledError as exc:
        raise QgsProcessingException(alg.tr("Cancelled by the user while writing the {}; nothing was written.").format(
            what)) from exc
    except BalanceError as exc:
        raise QgsProcessingException(alg.tr("The {} could not be written beside {} ({}{}); nothing was changed.").format(
            what, dest.path, exc, _free_space(dest.path))) from exc
    return SinkHandle(None, path, dest, path)


def publish_patch_layer(alg, parameters, context, feedback, table, geometries, crs, legend, layer_name,
                        extra_fields=None, extra_values=None, key="OUTPUT") -> str:
    """Write the patch layer, style it (graduated on sampler_weight when there is one, class names as aliases),
    store that style in a GeoPackage as its default, and return the destination id.

    A file output is staged (see `staged_outputs`): written beside its target, checked, and put in
    place when the whole run commits; into an existing GeoPackage only its own layer is replaced.
    """
    dest = sink_destination(alg, parameters, key, context)
    extra_count = extra_fields.count() if extra_fields is not None else 0
    columns = patch_columns(table, MAX_FIELDS.get(dest.extension), extra_count)
    if table.class_counts is not None and not any(class_value(c.name) is not None for c in columns):
        feedback.pushWarning(alg.tr(
            "{} classes need more fields than a {} layer holds ({} at most): the class fractions are stored in "
            "one class_dist_json text field instead of c_<value> fields.").format(
                len(table.class_values), dest.extension.lstrip("."), MAX_FIELDS[dest.extension]))
    fields = patch_fields(columns, extra_fields)
    handle = write_bulk(alg, parameters, key, context, feedback, crs, columns, fields, extra_count, extra_values,
                        geometries, "patch layer")
    if handle is None:  # not a GeoPackage file, or values the bulk writer does not take: QGIS's feature sink
        handle = open_sink(alg, parameters, key, context, fields, QgsWkbTypes.Polygon, crs, "patch layer")
        rows = list(zip(*[c.as_list() for c in columns]))
        error = write_features(handle.sink, fields, rows, geometries, extra_values, feedback, "patch layer")
        if error:
            handle.sink = None  # closes the file before failing: the staged file goes with the run's rollback
            raise QgsProcessingException(alg.tr(error))
    renderer = sampler_weight_renderer(table["sampler_weight"]) if "sampler_weight" in table else None
    properties = {LEGEND_PROPERTY: legend_to_json(legend) if legend else "", TARGET_PROPERTY: target_shares_json(table)}
    style = (renderer, class_aliases(table, legend), properties, fields)
    return close_sink(alg, context, handle, len(table), "patch layer", layer_name, style)


def _free_space(path: str) -> str:
    """'; the disk is full (… free)' when that is the likely reason of a failed write, else ''."""
    try:
        free = shutil.disk_usage(os.path.dirname(path)).free
    except OSError:
        return ""
    return f"; the disk is full ({free // 1024} KiB free)" if free < 16 << 20 else ""


def _sidecar_extensions(path: str) -> tuple:
    """Extensions of the files a format writes beside the main one (e.g. MapInfo's .dat, .map, .id)."""
    stem = os.path.splitext(path)[0]
    return tuple(os.path.splitext(p)[1] for p in glob.glob(glob.escape(stem) + ".*") if p != path)


def _load_when_asked(alg, context, dest, final_id, renderer, layer_name, aliases, properties) -> None:
    """Ask QGIS to load the committed layer when the user asked for it (the staged file was never registered)."""
    value = dest.value
    project = value.destinationProject if isinstance(value, QgsProcessingOutputLayerDefinition) else None
    if project is not None:
        definition = alg.parameterDefinition(dest.key)
        name = value.destinationName or (definition.description() if definition is not None else layer_name)
        context.addLayerToLoadOnCompletion(final_id, QgsProcessingContext.LayerDetails(name, project, dest.key))
    _style_when_loaded(alg, context, final_id, renderer, layer_name, aliases, properties)


def _style_when_loaded(alg, context, dest_id, renderer, layer_name, aliases, properties) -> None:
    if context.willLoadLayerOnCompletion(dest_id):
        # QGIS names the layer after its file or its output's description: the description is the name that
        # needs what tells runs apart (output_names)
        definition = alg.parameterDefinition(context.layerToLoadOnCompletionDetails(dest_id).outputName)
        description = definition.description() if definition is not None else layer_name
        styler = PatchLayerStyler(renderer, description, aliases, properties, getattr(alg, "run_label", ""))
        alg.stylers.append(styler)
        context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(styler)
