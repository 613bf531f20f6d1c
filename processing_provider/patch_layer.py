"""Patch layers in and out of Processing: any vector source → patch table; patch table → styled sink.

Fields the plugin does not own (an analyst's notes, a split column) are carried through
every step unchanged, after the plugin's own fields.
"""
import os
import re
from dataclasses import dataclass, field

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessingException,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..balance_core.errors import BalanceError
from ..balance_core.legend import Legend, class_name, legend_to_json
from ..balance_core.patch_records import class_value, table_from_records
from ..balance_core.schema import FLOAT, INT, OWN_FIELDS, class_field, output_columns
from ..balance_core.table import PatchTable
from .styling import PatchLayerStyler, sampler_weight_renderer, save_default_style, style_layer

QVARIANT_TYPES = {INT: QVariant.LongLong, FLOAT: QVariant.Double}
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


def read_patch_source(alg, parameters, key, context, feedback, *, need_windows=False, need_composition=False) -> PatchSource:
    source = alg.parameterAsSource(parameters, key, context)
    if source is None:
        raise QgsProcessingException(alg.tr("The patch layer could not be loaded: {}").format(
            safe_source_name(parameters.get(key))))
    fields = source.fields()
    names = fields.names()
    extra_idx = [i for i, n in enumerate(names)
                 if n not in OWN_FIELDS and class_value(n) is None and n.lower() not in ("fid", "ogc_fid")]
    columns = {n: [] for n in names}
    geometries, extra_values = [], []
    total = max(source.featureCount(), 1)
    for i, feature in enumerate(source.getFeatures(QgsFeatureRequest())):
        if i % 1000 == 0:
            if feedback.isCanceled():
                raise QgsProcessingException(alg.tr("Cancelled by the user while reading the patch layer."))
            feedback.setProgress(10.0 * i / total)
        attrs = feature.attributes()
        for name, value in zip(names, attrs):
            columns[name].append(_plain(value))
        geometries.append(QgsGeometry(feature.geometry()))
        extra_values.append([attrs[j] for j in extra_idx])
    try:
        table = table_from_records(columns, need_windows=need_windows, need_composition=need_composition)
    except BalanceError as exc:
        raise QgsProcessingException(str(exc)) from exc
    extra = QgsFields()
    for j in extra_idx:
        extra.append(fields.at(j))
    return PatchSource(table, geometries, source.sourceCrs(), extra, extra_values,
                       alg.parameterAsVectorLayer(parameters, key, context))


def patch_fields(table: PatchTable, extra: QgsFields | None = None) -> QgsFields:
    fields = QgsFields()
    for column in output_columns(table):
        fields.append(QgsField(column.name, QVARIANT_TYPES.get(column.kind, QVariant.String)))
    for i in range(extra.count() if extra is not None else 0):
        fields.append(extra.at(i))
    return fields


def class_aliases(table: PatchTable, legend: Legend) -> dict:
    return {class_field(int(v)): class_name(legend, v) for v in table.class_values if int(v) in legend}


def polygon_wkb(rings: np.ndarray) -> list:
    """QgsGeometry polygons (one ring of 5 points each) from little-endian WKB built for all patches at once."""
    record = np.dtype([("order", "u1"), ("type", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xy", "<f8", (5, 2))])
    wkb = np.empty(len(rings), dtype=record)
    wkb["order"], wkb["type"], wkb["rings"], wkb["points"] = 1, 3, 1, 5
    wkb["xy"] = rings
    raw, size = wkb.tobytes(), record.itemsize
    out = []
    for i in range(len(rings)):
        geometry = QgsGeometry()
        geometry.fromWkb(raw[i * size:(i + 1) * size])
        out.append(geometry)
    return out


def _write(sink, table, fields, geometries, extra_values, feedback) -> bool:
    """Add one feature per patch; False when cancelled between batches.

    Returning instead of raising lets the caller close the sink before removing the file:
    a traceback would keep this frame, and the open sink, alive.
    """
    rows = list(zip(*[c.as_list() for c in output_columns(table)]))
    n = len(rows)
    for start in range(0, n, BATCH):
        if feedback.isCanceled():
            return False
        batch = []
        for i in range(start, min(start + BATCH, n)):
            feature = QgsFeature(fields)
            feature.setGeometry(geometries[i])
            feature.setAttributes(list(rows[i]) + (list(extra_values[i]) if extra_values else []))
            batch.append(feature)
        sink.addFeatures(batch, QgsFeatureSink.FastInsert)
        feedback.setProgress(90.0 + 10.0 * min(start + BATCH, n) / n)
    return True


def publish_patch_layer(alg, parameters, context, feedback, table, geometries, crs, legend, layer_name,
                        extra_fields=None, extra_values=None, key="OUTPUT") -> str:
    """Write the patch layer, style it (graduated on sampler_weight when there is one, class names as aliases),
    store that style in a GeoPackage as its default, and return the destination id."""
    fields = patch_fields(table, extra_fields)
    sink, dest_id = alg.parameterAsSink(parameters, key, context, fields, QgsWkbTypes.Polygon, crs)
    if sink is None:
        raise QgsProcessingException(alg.invalidSinkError(parameters, key))
    completed = _write(sink, table, fields, geometries, extra_values, feedback)
    del sink  # closes the file: its style can be stored, or a cancelled file removed
    if not completed:
        remove_file_output(dest_id)
        raise QgsProcessingException(alg.tr("Cancelled by the user while writing the patch layer; the partial layer was removed."))
    renderer = sampler_weight_renderer(table["sampler_weight"]) if "sampler_weight" in table else None
    aliases, legend_json = class_aliases(table, legend), legend_to_json(legend) if legend else ""
    if dest_id.lower().split("|")[0].endswith(".gpkg"):
        error = save_default_style(dest_id, renderer, aliases, legend_json)
        if error:
            feedback.pushWarning(alg.tr("The style could not be stored in the GeoPackage: {}").format(error))
    memory_layer = context.temporaryLayerStore().mapLayer(dest_id)  # TEMPORARY_OUTPUT: style it right away
    if memory_layer is not None:
        style_layer(memory_layer, renderer, aliases, legend_json)
    if context.willLoadLayerOnCompletion(dest_id):
        styler = PatchLayerStyler(renderer, layer_name, aliases, legend_json)
        alg.stylers.append(styler)
        context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(styler)
    return dest_id


def remove_file_output(dest_id: str) -> None:
    """Remove a cancelled file output, with the side files SQLite-based formats leave."""
    path = dest_id.split("|")[0]
    for candidate in (path, path + "-journal", path + "-wal", path + "-shm"):
        if os.path.isfile(candidate):
            os.remove(candidate)
