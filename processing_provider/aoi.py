"""Area of interest: keep the patches whose footprint intersects (or lies inside) given polygons."""
import numpy as np
from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsGeometry, QgsPointXY, QgsProcessingException

from .parameters import AOI_MODES


def aoi_selector(alg, parameters, context):
    """A selector for the engine's grid step, or None when no area is given."""
    source = alg.parameterAsSource(parameters, "AOI", context)
    if source is None:
        return None
    within = AOI_MODES[alg.parameterAsEnum(parameters, "AOI_MODE", context)] == "within"

    def select(table, rings: np.ndarray, crs_wkt: str) -> np.ndarray:
        engine, box = _prepared_area(alg, source, QgsCoordinateReferenceSystem.fromWkt(crs_wkt), context)
        xmin, xmax = rings[:, :, 0].min(axis=1), rings[:, :, 0].max(axis=1)
        ymin, ymax = rings[:, :, 1].min(axis=1), rings[:, :, 1].max(axis=1)
        candidates = (xmax >= box.xMinimum()) & (xmin <= box.xMaximum()) & (ymax >= box.yMinimum()) & (ymin <= box.yMaximum())
        keep = np.zeros(len(rings), dtype=bool)
        for i in np.flatnonzero(candidates):
            footprint = QgsGeometry.fromPolygonXY([[QgsPointXY(float(x), float(y)) for x, y in rings[i]]])
            keep[i] = engine.contains(footprint.constGet()) if within else engine.intersects(footprint.constGet())
        return keep

    return select


def _prepared_area(alg, source, crs, context):
    """The union of the area's polygons in the rasters' CRS, prepared for many predicate tests."""
    transform = QgsCoordinateTransform(source.sourceCrs(), crs, context.transformContext())
    parts = []
    for feature in source.getFeatures():
        geometry = QgsGeometry(feature.geometry())
        if geometry.isEmpty():
            continue
        if geometry.transform(transform) != 0:
            raise QgsProcessingException(alg.tr("The area of interest cannot be transformed to the rasters' CRS."))
        parts.append(geometry.makeValid())
    if not parts:
        raise QgsProcessingException(alg.tr("The area of interest holds no polygon."))
    area = QgsGeometry.unaryUnion(parts)
    engine = QgsGeometry.createGeometryEngine(area.constGet())
    engine.prepareGeometry()
    return engine, area.boundingBox()
