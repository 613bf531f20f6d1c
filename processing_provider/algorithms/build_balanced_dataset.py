"""Build balanced dataset: the four steps in one run, image/mask pair(s) → styled patch layer + CSV + report."""
from qgis.core import QgsCoordinateReferenceSystem, QgsProcessingException

from ...balance_core.dataset import dataset_footprints
from ...balance_core.errors import BalanceError
from ...balance_core.pipeline import build_balanced_dataset
from ...balance_core.progress import SubProgress
from ..aoi import aoi_selector
from ..base import PatchBalancerAlgorithm, guarded_run
from ..class_legend import legend_or_error
from ..feedback import FeedbackProgress
from ..parameters import (
    add_aoi_params,
    add_class_map_param,
    add_cluster_params,
    add_composition_params,
    add_dask_param,
    add_embedding_params,
    add_grid_params,
    add_mode_param,
    add_raster_inputs,
    add_weight_params,
    checked_parameters,
    raster_pairs,
    read_config,
)
from ..patch_layer import polygon_wkb, publish_patch_layer
from ..weighted_outputs import (
    add_weighted_outputs,
    class_names,
    finish_weighted,
    weight_settings,
)


class BuildBalancedDatasetAlgorithm(PatchBalancerAlgorithm):
    def name(self):
        return "buildbalanceddataset"

    def displayName(self):
        return self.tr("Build balanced dataset")

    def shortHelpString(self):
        return self.tr(
            "Cuts one or many image/mask pairs into square patches and gives every patch a <b>sampler_weight</b>: "
            "how many times per epoch PyTorch's WeightedRandomSampler draws it, on average. By default "
            "(class_balance) the weights bring the classes of the pixels one epoch draws as close to the target "
            "shares as the oversampling cap allows: patches holding rare classes are drawn more often, "
            "pure-background ones less. With visual uniqueness (DINOv2 image embeddings, optional), patches that "
            "look unlike the others carry more of their class's share. Unusable patches (nodata or a black collar "
            "on their border, nothing labelled) are excluded and never drawn. Gives the same weights as the four "
            "algorithms of <i>Step by step</i> run one after the other.<br><br>"
            "The first DINOv2 run downloads the model from Hugging Face; offline, give a local model folder or use "
            "the weights-free 'descriptor' embedder.<br><br>"
            "<b>Balanced patches</b>: one polygon per patch in the rasters' CRS, coloured by draws per epoch "
            "(light = rarely drawn, dark = often, hatched = excluded). Fields: patch_id, image_path, mask_path, "
            "row_off, col_off, patch_size, one c_&lt;value&gt; fraction per class (named after the class when "
            "known), class_entropy, nodata_ratio, the exclusion flags (excl_border_nodata, excl_black_border, "
            "excl_image_nodata, excl_low_entropy, excl_nodata_ratio) and excluded, freq_cluster_id/size/weight, "
            "uniqueness_score (with uniqueness), sampler_weight. Saved in a GeoPackage, the style goes with it."
            "<br><br><b>Sampler CSV</b>: the same columns plus class_dist_json, ready for WeightedRandomSampler."
            "<br><br><b>Balance report</b>: per class the share raw, targeted and drawn, and the loss weights; a "
            "weight histogram; the effective sample size; the composition clusters.<br><br>"
            "<b>Loss class weights</b>: JSON for torch.nn.CrossEntropyLoss(weight=…), what the loss still needs "
            "once the sampler draws with these weights.")

    def initAlgorithm(self, config=None):
        add_raster_inputs(self)
        add_grid_params(self)
        add_aoi_params(self)
        add_composition_params(self)
        add_class_map_param(self)
        add_mode_param(self)
        add_cluster_params(self)
        add_weight_params(self)
        add_embedding_params(self)
        add_dask_param(self)
        add_weighted_outputs(self)

    def checkParameterValues(self, parameters, context):
        return checked_parameters(self, parameters, context, super().checkParameterValues)

    @guarded_run
    def processAlgorithm(self, parameters, context, feedback):
        pairs, mask_layers = raster_pairs(self, parameters, context)
        config = read_config(self, parameters, context)
        progress = SubProgress(FeedbackProgress(feedback), 0.0, 0.9)  # writing the layer takes the rest
        legend = legend_or_error(self, parameters, context, feedback, mask_layers=mask_layers,
                                 mask_paths=[m for _, m in pairs])
        try:  # the pipeline validates the settings before any work
            table, dataset = build_balanced_dataset(pairs, config, progress,
                                                    select=aoi_selector(self, parameters, context),
                                                    class_names=class_names(legend))
        except BalanceError as exc:
            raise QgsProcessingException(str(exc)) from exc
        crs = QgsCoordinateReferenceSystem.fromWkt(dataset.crs_wkt)
        geometries = polygon_wkb(dataset_footprints(table, dataset))
        dest_id = publish_patch_layer(self, parameters, context, feedback, table, geometries, crs, legend,
                                      self.tr("Balanced patches"))
        settings = {"Raster pairs": str(len(dataset.pairs)), **weight_settings(config)}
        results = finish_weighted(self, parameters, context, table, legend, dest_id, settings)
        results["EMBEDDINGS_CACHE"] = config.embeddings_cache
        return results
