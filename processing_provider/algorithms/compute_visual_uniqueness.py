"""Compute visual uniqueness: patch layer + images → uniqueness_score (step 3 of 4, optional)."""
import numpy as np
from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
)

from ...balance_core.dataset import open_dataset
from ...balance_core.errors import BalanceError
from ...balance_core.pipeline import uniqueness_step
from ...balance_core.progress import SubProgress
from ..base import PatchBalancerAlgorithm, guarded_run
from ..class_legend import legend_or_error
from ..feedback import FeedbackProgress
from ..parameters import (
    add,
    add_dask_param,
    add_embedding_params,
    add_external_embeddings_param,
    checked_parameters,
    read_config,
)
from ..patch_layer import publish_patch_layer, read_patch_source
from .patch_input import add_patch_input, distinct_pairs


class ComputeVisualUniquenessAlgorithm(PatchBalancerAlgorithm):
    def name(self):
        return "computevisualuniqueness"

    def displayName(self):
        return self.tr("3 · Compute visual uniqueness")

    def shortHelpString(self):
        return self.tr(
            "Embeds each included patch's image window (DINOv2 CLS token, or the weights-free descriptor) and scores "
            "how unlike the rest of the dataset it looks: the mean cosine distance to its k nearest included patches, "
            "searched over all rasters at once. Patches with excluded = 1 are skipped. The embeddings cache makes "
            "re-runs and edited layers cheap. Embeddings computed elsewhere (External embeddings: "
            "pytorch_segmentation_models_trainer's Parquet, or any with image_path, row_off, col_off and an embedding column) are used instead "
            "of the embedder, matched by image path and window.<br><br>"
            "<b>Patches with uniqueness</b>: the input fields plus uniqueness_score (empty for excluded patches). "
            "Next: <i>Compute sampler weights</i>.")

    def initAlgorithm(self, config=None):
        add_patch_input(self, "Patches with their window fields, usually the output of 'Compute class composition'.")
        add_embedding_params(self)
        add_dask_param(self)
        add_external_embeddings_param(self)
        add(self, QgsProcessingParameterFeatureSink("OUTPUT", self.tr("Patches with uniqueness"), QgsProcessing.TypeVectorPolygon),
            "The input patches with uniqueness_score.")
        self.addOutput(QgsProcessingOutputNumber("PATCH_COUNT", self.tr("Number of patches")))
        self.addOutput(QgsProcessingOutputNumber("SCORED_COUNT", self.tr("Number of patches scored")))

    def _config(self, parameters, context):
        return read_config(self, parameters, context, mode="embeddings_only")

    def checkParameterValues(self, parameters, context):
        return checked_parameters(self, parameters, context, super().checkParameterValues, mode="embeddings_only")

    @guarded_run
    def processAlgorithm(self, parameters, context, feedback):
        source = read_patch_source(self, parameters, "INPUT", context, feedback, need_windows=True)
        config = self._config(parameters, context)
        progress = SubProgress(FeedbackProgress(feedback), 0.1, 0.9)  # reading below, writing above
        try:
            config.validate()
            if source.table["excluded"].all():
                raise QgsProcessingException(self.tr("Every patch is excluded: there is nothing to score."))
            dataset = None if config.external_embeddings else open_dataset(distinct_pairs(source.table), progress)
            table = uniqueness_step(source.table, dataset, config, progress)  # external: matched by window
        except BalanceError as exc:
            raise QgsProcessingException(str(exc)) from exc
        legend = legend_or_error(self, parameters, context, feedback, patch_layer=source.layer)
        dest_id = publish_patch_layer(self, parameters, context, feedback, table, source.geometries, source.crs, legend,
                                      self.tr("Patches with uniqueness"), source.extra_fields, source.extra_values)
        return {"OUTPUT": dest_id, "PATCH_COUNT": len(table), "EMBEDDINGS_CACHE": config.embeddings_cache,
                "SCORED_COUNT": int(np.isfinite(table["uniqueness_score"]).sum())}
