"""Writes the patch table into a Processing feature sink (fields, footprints, attributes)."""
import numpy as np
from qgis.core import QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsGeometry
from qgis.PyQt.QtCore import QVariant

from ..balance_core.grid import footprints
from ..balance_core.schema import FLOAT, INT, output_columns

QVARIANT_TYPES = {INT: QVariant.LongLong, FLOAT: QVariant.Double}
BATCH = 2000


def patch_fields(table) -> QgsFields:
    fields = QgsFields()
    for column in output_columns(table):
        fields.append(QgsField(column.name, QVARIANT_TYPES.get(column.kind, QVariant.String)))
    return fields


def polygon_wkb(rings: np.ndarray) -> list[bytes]:
    """Little-endian WKB polygons (one ring of 5 points each), built for all patches at once."""
    record = np.dtype([("order", "u1"), ("type", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xy", "<f8", (5, 2))])
    wkb = np.empty(len(rings), dtype=record)
    wkb["order"], wkb["type"], wkb["rings"], wkb["points"] = 1, 3, 1, 5
    wkb["xy"] = rings
    raw = wkb.tobytes()
    size = record.itemsize
    return [raw[i * size:(i + 1) * size] for i in range(len(rings))]


def write_patches(sink, table, pair, fields: QgsFields, feedback) -> bool:
    """Add one polygon feature per patch; False when cancelled between batches.

    Returning instead of raising lets the caller close the sink before removing the file:
    a traceback would keep this frame, and the open sink, alive.
    """
    rings = footprints(pair.transform, table["row_off"], table["col_off"], int(table["patch_size"][0]))
    geometries = polygon_wkb(rings)
    rows = list(zip(*[c.as_list() for c in output_columns(table)]))
    n = len(rows)
    for start in range(0, n, BATCH):
        if feedback.isCanceled():
            return False
        batch = []
        for i in range(start, min(start + BATCH, n)):
            feature = QgsFeature(fields)
            geometry = QgsGeometry()
            geometry.fromWkb(geometries[i])
            feature.setGeometry(geometry)
            feature.setAttributes(list(rows[i]))
            batch.append(feature)
        sink.addFeatures(batch, QgsFeatureSink.FastInsert)
        feedback.setProgress(100.0 * min(start + BATCH, n) / n)
    return True
