"""Create patch grid: image/mask pair(s) → patch footprints with their windows (step 1 of 4)."""
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
)

from ...balance_core.dataset import dataset_footprints, open_dataset
from ...balance_core.errors import BalanceError
from ...balance_core.pipeline import grid_step
from ..aoi import aoi_selector
from ..base import PatchBalancerAlgorithm, guarded_run
from ..feedback import FeedbackProgress
from ..parameters import (
    add,
    add_aoi_params,
    add_grid_params,
    add_raster_inputs,
    checked_parameters,
    raster_pairs,
    read_config,
)
from ..patch_layer import polygon_wkb, publish_patch_layer


class CreatePatchGridAlgorithm(PatchBalancerAlgorithm):
    def name(self):
        return "createpatchgrid"

    def displayName(self):
        return self.tr("1 · Create patch grid")

    def shortHelpString(self):
        return self.tr(
            "Cuts one or many image/mask pairs into square patches (full windows only) and writes their footprints. "
            "Pairs come from two layer lists (paired by file name or by order) or from an image folder and a mask "
            "folder. An optional area of interest keeps only the patches intersecting it, or inside it.<br><br>"
            "<b>Patch grid</b>: one polygon per patch in the rasters' CRS with patch_id (unique over all rasters), "
            "image_path, mask_path, row_off, col_off (pixel window) and patch_size. Next step: "
            "<i>Compute class composition</i>.")

    def initAlgorithm(self, config=None):
        add_raster_inputs(self)
        add_grid_params(self)
        add_aoi_params(self)
        add(self, QgsProcessingParameterFeatureSink("OUTPUT", self.tr("Patch grid"), QgsProcessing.TypeVectorPolygon),
            "Patch footprints with their windows: the input of the next steps.")
        self.addOutput(QgsProcessingOutputNumber("PATCH_COUNT", self.tr("Number of patches")))
        self.addOutput(QgsProcessingOutputNumber("PAIR_COUNT", self.tr("Number of image/mask pairs")))

    def checkParameterValues(self, parameters, context):
        return checked_parameters(self, parameters, context, super().checkParameterValues)

    @guarded_run
    def processAlgorithm(self, parameters, context, feedback):
        pairs, _ = raster_pairs(self, parameters, context)
        config = read_config(self, parameters, context)
        try:
            config.validate()
            dataset = open_dataset(pairs, FeedbackProgress(feedback))
            crs = QgsCoordinateReferenceSystem.fromWkt(dataset.crs_wkt)
            table = grid_step(dataset, config, aoi_selector(self, parameters, context))
        except BalanceError as exc:
            raise QgsProcessingException(str(exc)) from exc
        feedback.pushInfo(self.tr("{} patches over {} raster pair(s)").format(len(table), len(dataset.pairs)))
        geometries = polygon_wkb(dataset_footprints(table, dataset))
        dest_id = publish_patch_layer(self, parameters, context, feedback, table, geometries, crs, {}, self.tr("Patch grid"))
        return {"OUTPUT": dest_id, "PATCH_COUNT": len(table), "PAIR_COUNT": len(dataset.pairs)}
