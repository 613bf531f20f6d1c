"""Compute class composition: patch layer + masks → class fractions, entropy, nodata ratio, exclusions (step 2 of 4)."""
from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
)

from ...balance_core.dataset import open_dataset
from ...balance_core.errors import BalanceError
from ...balance_core.pipeline import composition_step
from ...balance_core.progress import SubProgress
from ..base import PatchBalancerAlgorithm, guarded_run
from ..class_legend import legend_or_error
from ..feedback import FeedbackProgress
from ..parameters import (
    add,
    add_class_map_param,
    add_composition_params,
    add_dask_param,
    checked_parameters,
    read_config,
)
from ..patch_layer import publish_patch_layer, read_patch_source
from .patch_input import add_patch_input, distinct_pairs


class ComputeClassCompositionAlgorithm(PatchBalancerAlgorithm):
    def name(self):
        return "computeclasscomposition"

    def displayName(self):
        return self.tr("2 · Compute class composition")

    def shortHelpString(self):
        return self.tr(
            "Reads each patch's window of its mask (image_path / mask_path / row_off / col_off / patch_size, as "
            "<i>Create patch grid</i> writes them) and measures its class composition and the exclusion rules. "
            "Patches may have been deleted or reordered in between; other fields are kept.<br><br>"
            "<b>Patches with composition</b>: the input fields plus one c_&lt;value&gt; fraction of the labelled pixels "
            "per class (aliased with the class name when known), class_entropy (nats), nodata_ratio, the flags "
            "excl_border_nodata, excl_black_border, excl_image_nodata, excl_low_entropy, excl_nodata_ratio and excluded (any flag; "
            "edit it to exclude patches by hand). Next: <i>Compute visual uniqueness</i> (optional) or "
            "<i>Compute sampler weights</i>.")

    def initAlgorithm(self, config=None):
        add_patch_input(self, "A patch grid (from 'Create patch grid') or any layer with its window fields.")
        add_composition_params(self)
        add_dask_param(self)
        add_class_map_param(self)
        add(self, QgsProcessingParameterFeatureSink("OUTPUT", self.tr("Patches with composition"), QgsProcessing.TypeVectorPolygon),
            "The input patches with class fractions, entropy, nodata ratio and exclusion flags.")
        self.addOutput(QgsProcessingOutputNumber("PATCH_COUNT", self.tr("Number of patches")))
        self.addOutput(QgsProcessingOutputNumber("EXCLUDED_COUNT", self.tr("Number of excluded patches")))
        self.addOutput(QgsProcessingOutputNumber("CLASS_COUNT", self.tr("Number of classes")))

    def checkParameterValues(self, parameters, context):
        return checked_parameters(self, parameters, context, super().checkParameterValues)

    @guarded_run
    def processAlgorithm(self, parameters, context, feedback):
        source = read_patch_source(self, parameters, "INPUT", context, feedback, need_windows=True)
        config = read_config(self, parameters, context)
        progress = SubProgress(FeedbackProgress(feedback), 0.1, 0.9)  # reading below, writing above
        try:
            config.validate()
            dataset = open_dataset(distinct_pairs(source.table), progress)
            table = composition_step(source.table, dataset, config, progress)
        except BalanceError as exc:
            raise QgsProcessingException(str(exc)) from exc
        excluded = int(table["excluded"].sum())
        if excluded == len(table):
            feedback.pushWarning(self.tr("Every patch is excluded: relax the exclusion rules before weighting."))
        legend = legend_or_error(self, parameters, context, feedback, patch_layer=source.layer,
                                 mask_paths=table["mask_path"].tolist())
        dest_id = publish_patch_layer(self, parameters, context, feedback, table, source.geometries, source.crs, legend,
                                      self.tr("Patches with composition"), source.extra_fields, source.extra_values)
        return {"OUTPUT": dest_id, "PATCH_COUNT": len(table), "EXCLUDED_COUNT": excluded,
                "CLASS_COUNT": len(table.class_values)}
