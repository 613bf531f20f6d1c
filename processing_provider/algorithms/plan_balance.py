"""Plan patch size and oversampling: what class_balance gives for every (patch size, cap), before building."""
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from ...balance_core.errors import BalanceError
from ...balance_core.plan_report import plan_columns, plan_records, render_plan_report
from ...balance_core.planning import parse_numbers, plan_balance, recommend
from ...balance_core.progress import SubProgress
from ...balance_core.writers import atomic_path, write_rows_csv
from ..base import PatchBalancerAlgorithm, guarded_run
from ..class_legend import legend_or_error
from ..feedback import FeedbackProgress
from ..parameters import (
    add,
    add_class_map_param,
    add_composition_params,
    add_raster_inputs,
    add_target_params,
    checked_parameters,
    raster_pairs,
    read_config,
)
from ..patch_layer import close_sink, open_sink, qt_field_type, write_features
from ..weighted_outputs import class_names

FIELD_TYPES = {"int": qt_field_type("LongLong"), "float": qt_field_type("Double"), "text": qt_field_type("String")}


class PlanBalanceAlgorithm(PatchBalancerAlgorithm):
    def name(self):
        return "planbalance"

    def displayName(self):
        return self.tr("Plan patch size and oversampling")

    def shortHelpString(self):
        return self.tr(
            "Two levers move the class ratio a segmentation model is trained on before any loss weight: the "
            "<b>patch size</b> (small patches let pure-background ones be drawn less) and the <b>oversampling "
            "cap</b> (rare-class patches drawn more often). Each has a cost: small patches lose context, heavy "
            "oversampling shows the model the same few patches again (a smaller effective sample size). For every "
            "patch size and cap listed, this computes what <i>Build balanced dataset</i> with class_balance would "
            "give on your rasters — the same grid (tiled, no overlap), exclusions and weights — without writing a "
            "patch layer: the class shares of whole frames and of one epoch's draws, the imbalance, the majority "
            "pixels per rarest-class pixel, the effective sample size, the largest oversampling, the loss weights "
            "still needed and the classes that limit the balance. One pass over the masks serves every size that "
            "is a multiple of the smallest.<br><br>"
            "<b>Plan table</b>: one row per setting (also as CSV). <b>Plan report</b>: the board — imbalance "
            "against the cap, one line per patch size, from the whole-frame value — with the recommendation: the "
            "setting that reaches the target ratio with the largest effective sample size, or the closest one.")

    def initAlgorithm(self, config=None):
        add_raster_inputs(self)
        add(self, QgsProcessingParameterString("PATCH_SIZES", self.tr("Patch sizes (pixels)"), "64,128,256,512"),
            "Comma-separated patch sides to compare. Sizes that are multiples of the smallest cost no extra pass over "
            "the masks.")
        add(self, QgsProcessingParameterString("CAPS", self.tr("Oversampling caps"), "1,2,3,5,8"),
            "Comma-separated caps to compare: no patch drawn more than this many times as often as average. 1 = "
            "every usable patch equally often (the raw shares of the usable patches).")
        add(self, QgsProcessingParameterNumber("TARGET_RATIO", self.tr("Target imbalance (largest : smallest)"),
                                               QgsProcessingParameterNumber.Double, 5.0, minValue=1.0),
            "The recommendation picks the setting whose drawn class shares are at most this unbalanced "
            "(largest / smallest share) with the largest effective sample size; if none is, the closest.")
        add_target_params(self)
        add_composition_params(self)
        add_class_map_param(self)
        add(self, QgsProcessingParameterFeatureSink("OUTPUT", self.tr("Plan table"), QgsProcessing.TypeVector),
            "One row per (patch size, cap): patches, drawable patches, imbalance of whole frames and drawn, majority "
            "pixels per rarest-class pixel, effective sample size, largest oversampling, whether the target is "
            "reached, the recommended row, what limits the balance, and per class the whole-frame and drawn share, "
            "the drawable patches holding it and the loss weight still needed.")
        add(self, QgsProcessingParameterFileDestination("OUTPUT_CSV", self.tr("Plan table (CSV)"),
                                                        self.tr("CSV files (*.csv)"), optional=True,
                                                        createByDefault=False),
            "Optional: the plan table as CSV.")
        add(self, QgsProcessingParameterFileDestination("REPORT", self.tr("Plan report"), self.tr("HTML files (*.html)"),
                                                        optional=True, createByDefault=True),
            "The board (imbalance against the cap, one line per patch size) with the recommendation and the table; "
            "opens in the Processing results viewer.")
        for key, label in (("RECOMMENDED_PATCH_SIZE", "Recommended patch size"),
                           ("RECOMMENDED_CAP", "Recommended oversampling cap"),
                           ("RECOMMENDED_IMBALANCE", "Imbalance drawn at the recommended setting"),
                           ("MEETS_TARGET", "Whether the recommended setting reaches the target (1) or is the closest (0)")):
            self.addOutput(QgsProcessingOutputNumber(key, self.tr(label)))
        self.addOutput(QgsProcessingOutputString("RECOMMENDATION", self.tr("Recommendation")))

    def checkParameterValues(self, parameters, context):
        ok, message = checked_parameters(self, parameters, context, super().checkParameterValues)
        if ok:
            try:
                self._levers(parameters, context)
            except BalanceError as exc:
                return False, str(exc)
        return ok, message

    def _levers(self, parameters, context):
        return (parse_numbers(self.parameterAsString(parameters, "PATCH_SIZES", context), "Patch sizes", True),
                parse_numbers(self.parameterAsString(parameters, "CAPS", context), "Oversampling caps", False))

    @guarded_run
    def processAlgorithm(self, parameters, context, feedback):
        pairs, mask_layers = raster_pairs(self, parameters, context)
        config = read_config(self, parameters, context)
        sizes, caps = self._levers(parameters, context)
        target_ratio = self.parameterAsDouble(parameters, "TARGET_RATIO", context)
        legend = legend_or_error(self, parameters, context, feedback, mask_layers=mask_layers,
                                 mask_paths=[m for _, m in pairs])
        rows = plan_balance(pairs, config, sizes, caps, SubProgress(FeedbackProgress(feedback), 0.0, 0.9),
                            class_names(legend))
        chosen = recommend(rows, target_ratio)
        feedback.pushInfo(chosen.text)
        columns, records = plan_columns(rows), plan_records(rows, chosen)
        fields = QgsFields()
        for name, kind in columns:
            fields.append(QgsField(name, FIELD_TYPES[kind]))
        handle = open_sink(self, parameters, "OUTPUT", context, fields, QgsWkbTypes.NoGeometry,
                           QgsCoordinateReferenceSystem(), "plan table")
        error = write_features(handle.sink, fields, records, None, None, feedback, "plan table")
        if error:
            handle.sink = None
            raise QgsProcessingException(self.tr(error))
        dest_id = close_sink(self, context, handle, len(records), "plan table", self.tr("Patch size and cap plan"))
        csv_path = self.parameterAsFileOutput(parameters, "OUTPUT_CSV", context)
        if csv_path:
            write_rows_csv(csv_path, [name for name, _ in columns], records)
        report_path = self.parameterAsFileOutput(parameters, "REPORT", context)
        if report_path:
            settings = {"Raster pairs": str(len(set(pairs))), "Target class shares": config.target,
                        "Balance strength": f"{config.balance_strength:g}", "Target imbalance": f"{target_ratio:g} : 1"}
            with atomic_path(report_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
                fh.write(render_plan_report(rows, chosen, legend, target_ratio, settings))
        best = chosen.row
        return {"OUTPUT": dest_id, "OUTPUT_CSV": csv_path or None, "REPORT": report_path or None,
                "RECOMMENDED_PATCH_SIZE": best.patch_size if best else None,
                "RECOMMENDED_CAP": best.cap if best else None,
                "RECOMMENDED_IMBALANCE": best.imbalance if best else None,
                "MEETS_TARGET": int(chosen.meets_target), "RECOMMENDATION": chosen.text}
