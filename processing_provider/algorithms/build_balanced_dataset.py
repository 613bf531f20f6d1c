"""Build balanced dataset: the four steps in one run, image/mask pair(s) → styled patch layer + CSV + report."""
from qgis.core import QgsCoordinateReferenceSystem, QgsProcessingException

from ...balance_core.dataset import dataset_footprints
from ...balance_core.errors import BalanceError
from ...balance_core.progress import SubProgress
from ...balance_core.pipeline import build_balanced_dataset
from ..aoi import aoi_selector
from ..base import PatchBalancerAlgorithm, guarded_run
from ..class_legend import legend_or_error
from ..feedback import FeedbackProgress
from ..parameters import (
    add_aoi_params,
    add_class_map_param,
    add_cluster_params,
    add_composition_params,
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
from ..weighted_outputs import add_weighted_outputs, class_names, finish_weighted, weight_settings


class BuildBalancedDatasetAlgorithm(PatchBalancerAlgorithm):
    def name(self):
        return "buildbalanceddataset"

    def displayName(self):
        return self.tr("Build balanced dataset")

    def shortHelpString(self):
        return self.tr(
            "The four steps in one run (create patch grid → class composition → visual uniqueness → sampler weights; "
            "the chained steps give the same weights). Cuts one or many image/mask pairs into square patches and "
            "gives every patch a <b>sampler_weight</b> from two signals: <i>class composition</i> (the mask's class "
            "fractions → centred log-ratio → KMeans; patches of rare compositions weigh more) and <i>visual "
            "uniqueness</i> (DINOv2 CLS embeddings of the image → mean cosine distance to the k nearest patches; "
            "patches unlike the others weigh more). Clusters, neighbours and ranks are computed over the whole "
            "dataset. The mode picks the signals; the sampling method combines them on tie-aware ranks (rank_max, "
            "rank_multiply, rank_add, multiplicative, composition_only, uniqueness_only); an optional cap limits "
            "oversampling. Excluded patches get 0, every other patch at least a small floor.<br><br>"
            "The first DINOv2 run downloads the model from Hugging Face; offline, give a local model "
            "folder or use the weights-free 'descriptor' embedder.<br><br>"
            "<b>Balanced patches</b>: one polygon per patch in the rasters' CRS, graduated on "
            "sampler_weight (light = rarely drawn, dark = often drawn; excluded patches grey hatched). "
            "Fields: patch_id, image_path, mask_path, row_off, col_off, patch_size, one c_&lt;value&gt; "
            "fraction per class (aliased with the class name when known), class_entropy (nats), nodata_ratio, the "
            "exclusion flags (excl_border_nodata, excl_black_border, excl_image_nodata, excl_low_entropy, excl_nodata_ratio) "
            "and excluded, "
            "freq_cluster_id/size/weight (when composition is computed), uniqueness_score (when uniqueness "
            "is computed; empty for excluded patches), sampler_weight. Stored in a GeoPackage, the style is saved as "
            "the layer's default.<br><br>"
            "<b>Sampler CSV</b>: the same columns plus class_dist_json, ready for PyTorch's "
            "WeightedRandomSampler (weights = the sampler_weight column).<br><br>"
            "<b>Balance report</b>: HTML with the per-class shares raw vs weighted, patches per class, a weight "
            "histogram, the effective sample size, the largest oversampling factor and the clusters.")

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
