"""Select coreset: a patch layer → coreset_score and coreset_selected (pytorch_segmentation_models_trainer's six
core-set methods, as its code computes them)."""
import numpy as np
from qgis.core import (
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QVariant

from ...balance_core.config import BalanceConfig
from ...balance_core.coreset import EMBEDDING_METHODS, METHODS, CoresetSettings, pool_mask, select_coreset, selected_class_balance
from ...balance_core.errors import BalanceError
from ..base import PatchBalancerAlgorithm, guarded_run
from ..class_legend import legend_or_error
from ..feedback import FeedbackProgress
from ..parameters import Double, Integer, add, add_target_params, optional_value
from ..patch_layer import publish_patch_layer, qt_field_type, read_patch_source
from .patch_input import add_patch_input

BUDGET_MODES = ("fraction", "count")
NEW_FIELDS = ("coreset_score", "coreset_selected")
KEPT_FIELDS = ("sampler_weight", "freq_cluster_id", "freq_cluster_size", "freq_cluster_weight")


class SelectCoresetAlgorithm(PatchBalancerAlgorithm):
    def name(self):
        return "selectcoreset"

    def displayName(self):
        return self.tr("Select coreset")

    def shortHelpString(self):
        return self.tr(
            "Picks the most informative part of a patch pool for a training budget, with the six methods of "
            "Nogueira et al. (2026) as pytorch_segmentation_models_trainer's select-coreset computes them: "
            "<b>lc</b> label complexity (class entropy / the largest), <b>cb</b> class balance (greedy: each pick "
            "maximises the entropy of the summed class shares; stops at the budget, the rest score 0), "
            "<b>fa</b> feature activation, <b>fd</b> feature diversity (KMeans on the embeddings, K by the elbow or the "
            "Vendi score, then one patch per cluster in turn), <b>lc_fd</b> (the first m by fd, then the rest by lc), "
            "<b>fa_cb</b> (λ·fa + (1 − λ)·cb). fa follows pytorch_segmentation_models_trainer's <i>code</i>, which differs from "
            "its documentation: per patch, μ and σ of its embedding's values, γ = −(1 − μ)·ln(σ + 1e−12), score = "
            "1 − (γ − min γ)/(max γ − min γ). Equal scores are taken in patch order. fa, fd, lc_fd and fa_cb need "
            "embeddings: a field of the layer holding vectors, or a Parquet file matched by image path and window.<br>"
            "Excluded patches are never selected (and get no score). Optionally, class_balance weights are computed "
            "again over the selected patches only (the others get 0; the selected average 1).<br><br>"
            "<b>Core-set patches</b>: the input fields plus coreset_score (0–1, empty for excluded patches) and "
            "coreset_selected (1/0), and sampler_weight when recomputed.")

    def initAlgorithm(self, config=None):
        tr = self.tr
        add_patch_input(self, "Patches with composition (c_<value> fields or class_dist_json, class_entropy) and "
                              "excluded, e.g. the output of 'Build balanced dataset' or 'Compute sampler weights'.")
        add(self, QgsProcessingParameterEnum("METHOD", tr("Method"), options=list(METHODS), defaultValue=0),
            "lc and cb read the class composition only (seconds on 100k patches); fa, fd, lc_fd and fa_cb read image "
            "embeddings.")
        add(self, QgsProcessingParameterNumber("BUDGET", tr("Budget"), Double, 0.5, minValue=0.0),
            "A fraction of the selectable patches (0–1) or a number of patches, as the budget mode says. At least one "
            "patch is selected, at most all selectable ones.")
        add(self, QgsProcessingParameterEnum("BUDGET_MODE", tr("Budget is"), options=[tr("a fraction"), tr("a count")],
                                             defaultValue=0), "How BUDGET is read.")
        add(self, QgsProcessingParameterField("EMBEDDING_FIELD", tr("Embedding field"), parentLayerParameterName="INPUT",
                                              optional=True),
            "For fa, fd, lc_fd, fa_cb: a field holding each patch's embedding as a list of numbers ([0.1, 0.2, …], "
            "a PostgreSQL array or pgvector value).")
        add(self, QgsProcessingParameterFile("EXTERNAL_EMBEDDINGS", tr("External embeddings (Parquet)"),
                                             QgsProcessingParameterFile.File,
                                             fileFilter=tr("Parquet files (*.parquet);;All files (*)"), optional=True),
            "Instead of a field: a Parquet file of embeddings (pytorch_segmentation_models_trainer's embedding_extractor layout, a Patch "
            "Balancer cache of one model, or image_path/row_off/col_off + embedding), matched by image path and window.")
        add(self, QgsProcessingParameterBoolean("EXCLUDE_LOW_ENTROPY", tr("Keep low-entropy patches out"), True),
            "Unticked, patches excluded only for their low class entropy may be selected (select-coreset's "
            "exclude_low_entropy: false). Other excluded patches never are.", advanced=True)
        add(self, QgsProcessingParameterNumber("FD_K_MIN", tr("fd: smallest K"), Integer, 2, minValue=1),
            "Smallest number of embedding clusters tried (fd, lc_fd).", advanced=True)
        add(self, QgsProcessingParameterNumber("FD_K_MAX", tr("fd: largest K"), Integer, 20, minValue=1),
            "Largest number of embedding clusters tried (never more than the patches − 1).", advanced=True)
        add(self, QgsProcessingParameterBoolean("FD_USE_VENDI", tr("fd: choose K by the Vendi score"), False),
            "Instead of the elbow of the inertia: the last K that still raised the mean per-cluster Vendi score by "
            "the delta.", advanced=True)
        add(self, QgsProcessingParameterNumber("FD_VENDI_DELTA", tr("fd: Vendi delta"), Double, 0.005, minValue=0.0),
            "Smallest improvement of the Vendi score that counts.", advanced=True)
        add(self, QgsProcessingParameterNumber("LC_FD_CUTOFF_M", tr("lc_fd: patches chosen by fd"), Integer,
                                               optional=True, minValue=1),
            "How many patches lc_fd takes by fd before filling by lc; empty: 10 % of the selectable patches.",
            advanced=True)
        add(self, QgsProcessingParameterNumber("FA_CB_LAMBDA", tr("fa_cb: λ"), Double, 0.5, minValue=0.0, maxValue=1.0),
            "fa_cb = λ·fa + (1 − λ)·cb.", advanced=True)
        add(self, QgsProcessingParameterBoolean("CB_USE_SPATIAL", tr("cb: add the patch position"), False),
            "Appends the footprint centre (min-max normalised) to the class shares cb balances (select-coreset's "
            "cb_use_spatial).", advanced=True)
        add(self, QgsProcessingParameterBoolean("FD_USE_SPATIAL", tr("fa/fd: add the patch position"), False),
            "Appends the footprint centre (min-max normalised) to the embeddings (select-coreset's fd_use_spatial).",
            advanced=True)
        add(self, QgsProcessingParameterBoolean("RECOMPUTE_WEIGHTS", tr("Recompute class_balance weights over the "
                                                                        "selection"), False),
            "Ticked: sampler_weight is computed again with class_balance over the selected patches only (the others "
            "get 0), so the classes the selection keeps are drawn towards the target.")
        add_target_params(self)
        max_over = QgsProcessingParameterNumber("MAX_OVERSAMPLING", tr("Oversampling cap"), Double, 5.0, optional=True,
                                                minValue=1.0)
        add(self, max_over, "class_balance's cap over the selected patches: none drawn more than this × their mean.")
        add(self, QgsProcessingParameterFeatureSink("OUTPUT", tr("Core-set patches"), QgsProcessing.TypeVectorPolygon),
            "The input patches with coreset_score and coreset_selected.")
        self.addOutput(QgsProcessingOutputNumber("SELECTED_COUNT", tr("Number of patches selected")))
        self.addOutput(QgsProcessingOutputNumber("POOL_COUNT", tr("Number of selectable patches")))

    def _settings(self, parameters, context) -> CoresetSettings:
        return CoresetSettings(
            method=METHODS[self.parameterAsEnum(parameters, "METHOD", context)],
            budget=self.parameterAsDouble(parameters, "BUDGET", context),
            budget_mode=BUDGET_MODES[self.parameterAsEnum(parameters, "BUDGET_MODE", context)],
            fd_k_min=self.parameterAsInt(parameters, "FD_K_MIN", context),
            fd_k_max=self.parameterAsInt(parameters, "FD_K_MAX", context),
            fd_use_vendi=self.parameterAsBool(parameters, "FD_USE_VENDI", context),
            fd_vendi_delta=self.parameterAsDouble(parameters, "FD_VENDI_DELTA", context),
            lc_fd_cutoff_m=optional_value(self, parameters, "LC_FD_CUTOFF_M", context, True),
            fa_cb_lambda=self.parameterAsDouble(parameters, "FA_CB_LAMBDA", context),
            cb_use_spatial=self.parameterAsBool(parameters, "CB_USE_SPATIAL", context),
            fd_use_spatial=self.parameterAsBool(parameters, "FD_USE_SPATIAL", context),
            exclude_low_entropy=self.parameterAsBool(parameters, "EXCLUDE_LOW_ENTROPY", context))

    def checkParameterValues(self, parameters, context):
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        try:
            settings = self._settings(parameters, context).validate()
        except (BalanceError, QgsProcessingException) as exc:
            return False, str(exc)
        if settings.method in EMBEDDING_METHODS and not (
                self.parameterAsString(parameters, "EMBEDDING_FIELD", context)
                or self.parameterAsFile(parameters, "EXTERNAL_EMBEDDINGS", context)):
            return False, self.tr("Method {} scores image embeddings: give an embedding field or a Parquet file of "
                                  "embeddings.").format(settings.method)
        return True, ""

    @guarded_run
    def processAlgorithm(self, parameters, context, feedback):
        from ...balance_core.external_embeddings import attach_embeddings, from_columns, read_parquet

        source = read_patch_source(self, parameters, "INPUT", context, feedback)
        settings = self._settings(parameters, context)
        progress = FeedbackProgress(feedback)
        layer_source = self.parameterAsSource(parameters, "INPUT", context)
        names = layer_source.fields().names()
        field = self.parameterAsString(parameters, "EMBEDDING_FIELD", context)
        kept = [n for n in KEPT_FIELDS if n in names]
        if not all(n in names for n in KEPT_FIELDS[1:]):  # the cluster fields travel together or not at all
            kept = [n for n in kept if not n.startswith("freq_cluster")]
        raw = {n: [] for n in kept + ([field] if field else [])}
        for feature in layer_source.getFeatures():
            for n in raw:
                value = feature[n]
                raw[n].append(None if value is None or (isinstance(value, QVariant) and value.isNull()) else value)
        table = source.table
        for n in kept:  # fields the step does not recompute travel on
            values = np.array([np.nan if v is None else float(v) for v in raw[n]])
            table = table.with_columns(**{n: values.astype(np.int64) if n in ("freq_cluster_id", "freq_cluster_size")
                                          and np.isfinite(values).all() else values})
        try:
            settings.validate()
            pool = pool_mask(table, settings.exclude_low_entropy)
            embeddings = None
            if settings.method in EMBEDDING_METHODS:
                parquet = self.parameterAsFile(parameters, "EXTERNAL_EMBEDDINGS", context)
                if field:
                    external = from_columns(table["image_path"].tolist(), table["row_off"], table["col_off"],
                                            table["patch_size"], raw[field], f"the field {field!r}")
                else:
                    external = read_parquet(parquet)
                embeddings = attach_embeddings(table.with_columns(excluded=~pool), external, progress)["embedding"][pool]
            bounds = None
            if settings.cb_use_spatial or settings.fd_use_spatial:
                boxes = [g.boundingBox() for g in source.geometries]
                bounds = np.array([[b.xMinimum(), b.yMinimum(), b.xMaximum(), b.yMaximum()] for b in boxes])[pool]
            table = select_coreset(table, settings, embeddings, bounds, progress)
            if self.parameterAsBool(parameters, "RECOMPUTE_WEIGHTS", context):
                config = BalanceConfig(target=self.parameterAsString(parameters, "TARGET", context) or "uniform",
                                       balance_strength=self.parameterAsDouble(parameters, "BALANCE_STRENGTH", context),
                                       max_oversampling=optional_value(self, parameters, "MAX_OVERSAMPLING", context,
                                                                       False)).validate()
                table = selected_class_balance(table, config, progress)
        except BalanceError as exc:
            raise QgsProcessingException(str(exc)) from exc
        legend = legend_or_error(self, parameters, context, feedback, patch_layer=source.layer)
        extra_fields, keep = QgsFields(), []
        for i in range(source.extra_fields.count()):
            if source.extra_fields.at(i).name() not in NEW_FIELDS:
                extra_fields.append(source.extra_fields.at(i))
                keep.append(i)
        extra_fields.append(QgsField("coreset_score", qt_field_type("Double")))
        extra_fields.append(QgsField("coreset_selected", qt_field_type("Int")))
        scores, selected = table["coreset_score"], table["coreset_selected"]
        extra_values = [[row[i] for i in keep] + [None if not np.isfinite(scores[r]) else float(scores[r]),
                                                  int(selected[r])]
                        for r, row in enumerate(source.extra_values)]
        dest_id = publish_patch_layer(self, parameters, context, feedback, table, source.geometries, source.crs,
                                      legend, self.tr("Core-set patches"), extra_fields, extra_values)
        return {"OUTPUT": dest_id, "SELECTED_COUNT": int(selected.sum()), "POOL_COUNT": int(pool.sum())}
