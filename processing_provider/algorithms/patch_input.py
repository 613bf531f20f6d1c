"""The patch-layer input the step algorithms share."""
from qgis.core import QgsProcessing, QgsProcessingParameterFeatureSource

from ..parameters import add


def add_patch_input(alg, help_text, tables=False):
    """The patch layer a step reads; `tables`: also a layer without geometry (a CSV of patch records)."""
    types = [QgsProcessing.TypeVector] if tables else [QgsProcessing.TypeVectorPolygon]
    add(alg, QgsProcessingParameterFeatureSource("INPUT", alg.tr("Patch layer"), types), help_text)


def distinct_pairs(table) -> list:
    """The (image_path, mask_path) pairs a patch table refers to, in first-seen order."""
    return list(dict.fromkeys(zip(table["image_path"].tolist(), table["mask_path"].tolist())))
