"""Compute sampler weights: any patch layer with composition and/or uniqueness → sampler_weight (step 4 of 4)."""
import os

from qgis.core import QgsProcessingException, QgsProcessingParameterFolderDestination, QgsProcessingParameterString

from ...balance_core.config import SAMPLING_METHODS, needed_signals
from ...balance_core.dataset import check_record_windows
from ...balance_core.errors import BalanceError
from ...balance_core.progress import SubProgress
from ...balance_core.split_search import SPLIT_NAME
from ...balance_core.splits import is_split, split_csv_paths, write_split_csvs
from ...balance_core.pipeline import weights_step
from ..base import PatchBalancerAlgorithm, guarded_run
from ..class_legend import legend_or_error
from ..feedback import FeedbackProgress
from ..parameters import (add, add_class_map_param, add_cluster_params, add_weight_params, checked_parameters,
                          read_config)
from ..patch_layer import publish_patch_layer, read_patch_source
from ..weighted_outputs import add_weighted_outputs, class_names, finish_weighted, weight_settings
from .patch_input import add_patch_input

STEP_OF_SIGNAL = (("composition", "'Compute class composition'"), ("uniqueness", "'Compute visual uniqueness'"))
MODE_OF_SIGNALS = {(True, False): "masks_only", (False, True): "embeddings_only", (True, True): "both"}


class ComputeSamplerWeightsAlgorithm(PatchBalancerAlgorithm):
    def name(self):
        return "computesamplerweights"

    def displayName(self):
        return self.tr("4 · Compute sampler weights")

    def shortHelpString(self):
        return self.tr(
            "Gives every patch a <b>sampler_weight</b>: how many times per epoch WeightedRandomSampler draws it, on "
            "average. Reads the class composition from the c_&lt;value&gt; fraction fields (or a class_dist_json "
            "text) and visual uniqueness from uniqueness_score. Any QGIS vector source with these fields works: "
            "the output of step 2 or 3, a CSV of patch records, or a PostGIS table (connect through a QGIS "
            "connection with an authentication configuration, so no password is stored or logged). By default "
            "(class_balance) the weights bring the drawn class shares as close to the target as the oversampling "
            "cap allows. Patches with excluded = 1 (or nothing labelled) are never drawn.<br><br>"
            "<b>Balanced patches</b>: the input fields plus freq_cluster_id/size/weight (with composition) and "
            "sampler_weight, coloured by draws per epoch. <b>Sampler CSV</b>: the same plus class_dist_json, for "
            "WeightedRandomSampler. <b>Balance report</b>: per class the share raw, targeted and drawn, and the loss "
            "weights; a weight histogram; the effective sample size. <b>Loss class weights</b>: JSON for "
            "torch.nn.CrossEntropyLoss(weight=…).")

    def initAlgorithm(self, config=None):
        add_patch_input(self, "Patches with c_<value> fraction fields (or class_dist_json) and/or uniqueness_score, "
                              "e.g. the output of step 2 or 3, a database table of patch records, or a CSV of patch "
                              "records without geometry (empty cells count as no value). An excluded field is "
                              "honoured.", tables=True)
        add_cluster_params(self)
        add_weight_params(self)
        add_class_map_param(self)
        add(self, QgsProcessingParameterString("TRAIN_SPLIT", self.tr("Training split"), "train", optional=True),
            "On a layer with a split field (from 'Split patches'): only patches of this split get a weight, computed "
            "as if they were the whole dataset; the other splits get 0 and do not count in the balance or the "
            "report. Ignored on a layer without a split field.", advanced=True)
        add_weighted_outputs(self)
        add(self, QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", self.tr("Split CSV folder"), optional=True,
                                                          createByDefault=False),
            "Optional, for a layer with a split field: one CSV per split (train.csv, val.csv, test.csv) with the "
            "sampler CSV's columns and only its usable patches; validation and test rows carry weight 0.")

    def checkParameterValues(self, parameters, context):
        # the signals (and so the mode) come from the input layer: the method is checked against them in the run
        return checked_parameters(self, parameters, context, super().checkParameterValues, mode="both")

    @guarded_run
    def processAlgorithm(self, parameters, context, feedback):
        source = read_patch_source(self, parameters, "INPUT", context, feedback)
        table = source.table
        signals = (table.class_counts is not None, "uniqueness_score" in table)
        if not any(signals):
            raise QgsProcessingException(self.tr(
                "The layer has neither class fractions (c_<value> fields or class_dist_json) nor uniqueness_score: "
                "run 'Compute class composition' and/or 'Compute visual uniqueness' first."))
        config = read_config(self, parameters, context, mode=MODE_OF_SIGNALS[signals])
        needed = needed_signals(config.sampling_method) if config.sampling_method in SAMPLING_METHODS else frozenset()
        lacking = [step for (signal, step), have in zip(STEP_OF_SIGNAL, signals) if signal in needed and not have]
        if lacking:
            raise QgsProcessingException(self.tr("Sampling method '{}' needs what {} adds; run it first, or choose "
                                                 "another method.").format(config.sampling_method, " and ".join(lacking)))
        legend = legend_or_error(self, parameters, context, feedback, patch_layer=source.layer,
                                 mask_paths=table["mask_path"].tolist() if "mask_path" in table else ())
        try:
            config.validate()
            check_record_windows(table, FeedbackProgress(feedback))  # an edited window: refused here too
            train_split = self.parameterAsString(parameters, "TRAIN_SPLIT", context).strip() or "train"
            table = weights_step(table, config, SubProgress(FeedbackProgress(feedback), 0.1, 0.9), class_names(legend),
                                 train_split)
            if is_split(table):
                training = int((table["split"] == train_split).sum())
                feedback.pushInfo(self.tr("Weighted the '{}' split alone ({} of {} patches); the other splits get "
                                          "weight 0.").format(train_split, training, len(table)))
        except BalanceError as exc:
            raise QgsProcessingException(str(exc)) from exc
        dest_id = publish_patch_layer(self, parameters, context, feedback, table, source.geometries, source.crs, legend,
                                      self.tr("Balanced patches"), source.extra_fields, source.extra_values)
        settings = weight_settings(config)
        results = finish_weighted(self, parameters, context, table, legend, dest_id, settings, train_split)
        results["OUTPUT_FOLDER"] = self._split_csvs(parameters, context, table, train_split, feedback)
        return results

    def _split_csvs(self, parameters, context, table, train_split, feedback):
        """train.csv, val.csv, … in OUTPUT_FOLDER (None when not asked for, or the layer has no split)."""
        value = parameters.get("OUTPUT_FOLDER")
        folder = "" if value in (None, "") else self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        if not folder:
            return None
        if not is_split(table):
            feedback.pushWarning(self.tr("No split CSVs: the layer has no split field (run 'Split patches' first)."))
            return None
        found = sorted({str(v) for v in table["split"].tolist() if v}, key=lambda v: (v != train_split, v))
        bad = [v for v in found if not SPLIT_NAME.fullmatch(v)]
        if bad:
            raise QgsProcessingException(self.tr("The split value {!r} cannot be a file name; rename it in the "
                                                 "layer (letters, digits, '_', '-', '.').").format(bad[0]))
        layer = self.parameterAsVectorLayer(parameters, "INPUT", context)
        source = os.path.normcase(os.path.abspath(layer.source().split("|")[0])) if layer is not None else ""
        for path in split_csv_paths(folder, found).values():
            if os.path.normcase(os.path.abspath(path)) == source:
                raise QgsProcessingException(self.tr("The split CSV {} would overwrite the input layer; choose another "
                                                     "Split CSV folder.").format(path))
        write_split_csvs(table, folder, found)
        return folder
