"""Split patches: train / validation / test by spatial blocks, class-stratified, with a buffer (issue 16)."""
import os

import numpy as np
from qgis.core import (
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsGeometry,
    QgsPoint,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsRectangle,
    QgsSpatialIndex,
)

from ...balance_core.blocks import BLOCK_KINDS
from ...balance_core.dependencies import importable, install_message
from ...balance_core.errors import BalanceError
from ...balance_core.instances import count_instances
from ...balance_core.pipeline import weights_step
from ...balance_core.progress import SubProgress
from ...balance_core.split_report import render_split_report
from ...balance_core.split_search import parse_split_spec
from ...balance_core.splits import SplitConfig, split_codes, split_csv_paths, split_patches, write_split_csvs
from ...balance_core.writers import atomic_path
from ..base import PatchBalancerAlgorithm, guarded_run
from ..class_legend import legend_or_error
from ..feedback import FeedbackProgress
from ..parameters import add, checked_parameters, read_config
from ..patch_layer import publish_patch_layer, read_patch_source, safe_source_name
from ..weighted_outputs import class_names
from .patch_input import add_patch_input

BLOCK_OPTIONS = ("Grid cells", "Whole rasters", "Regions (polygons)")
MODE_OF_SIGNALS = {(True, False): "masks_only", (True, True): "both"}


class SplitPatchesAlgorithm(PatchBalancerAlgorithm):
    def name(self):
        return "splitpatches"

    def displayName(self):
        return self.tr("Split patches (train / val / test)")

    def shortHelpString(self):
        return self.tr(
            "Splits a patch layer with class composition into training, validation and test sets that a model can be "
            "honestly measured on. Patches are split in <b>spatial blocks</b> (grid cells, whole rasters or your own "
            "regions), so that neighbours share a split; the blocks are assigned by a search that keeps every class's "
            "pixels split in the requested fractions (each split's class shares close to the whole dataset's, every "
            "class in every split where the data allow). Patches of different splits never share a pixel (with a "
            "stride smaller than the patch size, neighbours overlap), and patches closer than the buffer to another "
            "split are excluded (flag excl_split_buffer; the larger split gives way).<br><br>"
            "<b>Split patches</b>: the input fields plus <i>split</i> and excl_split_buffer. <b>CSV folder</b>: one "
            "CSV per split (train.csv, val.csv, test.csv) with the sampler CSV's columns, its usable patches only. "
            "<b>Split report</b>: per split and class the pixel share, the patches and the instances (connected "
            "regions of the class), with a warning where a class has fewer instances than the minimum. Sampler "
            "weights, here or in <i>Compute sampler weights</i>, go to the training split only: validation and test "
            "get 0 and do not count in the training balance.")

    def initAlgorithm(self, config=None):
        tr = self.tr
        add_patch_input(self, "Patches with class fractions (c_<value> fields), e.g. the output of 'Compute class "
                              "composition'. Excluded patches keep their split but count nowhere.")
        add(self, QgsProcessingParameterString("SPLIT_NAMES", tr("Split names"), "train,val,test"),
            "Comma-separated names written to the split field and used as CSV names. The first is the training "
            "split: the only one that gets sampler weights.")
        add(self, QgsProcessingParameterString("FRACTIONS", tr("Fractions"), "0.7,0.15,0.15"),
            "One fraction per split, of the usable (not excluded) patches; normalised to sum 1, so 70,15,15 works too.")
        add(self, QgsProcessingParameterEnum("BLOCKS", tr("Split by"), options=[tr(o) for o in BLOCK_OPTIONS],
                                             defaultValue=0),
            "Grid cells: square cells of the block size. Whole rasters: each raster (tile) goes to one split. "
            "Regions: each polygon of the region layer is one block (a patch belongs to the region holding its "
            "centre); patches outside every region are split by grid cells.")
        add(self, QgsProcessingParameterNumber("BLOCK_SIZE", tr("Block size (map units)"),
                                               QgsProcessingParameterNumber.Double, 0.0, minValue=0.0),
            "Side of the grid cells in the layer's CRS units. 0 = 8 patches wide. Larger blocks keep more context "
            "apart but make the fractions and the class balance harder to meet.")
        add(self, QgsProcessingParameterFeatureSource("REGIONS", tr("Regions"), [QgsProcessing.TypeVectorPolygon],
                                                      optional=True),
            "Polygons (any CRS) for 'Split by regions', e.g. districts or flight lines: each is kept whole in one "
            "split.")
        add(self, QgsProcessingParameterNumber("BUFFER", tr("Buffer (map units)"),
                                               QgsProcessingParameterNumber.Double, 0.0, minValue=0.0),
            "Patches of different splits never share a pixel; a buffer also excludes patches closer than this "
            "distance to a patch of another split (spatial autocorrelation). The larger split gives way.")
        add(self, QgsProcessingParameterNumber("SEED", tr("Random seed"), QgsProcessingParameterNumber.Integer, 42,
                                               minValue=0),
            "Starting point of the search's random choices: the same layer and number give the same split.")
        add(self, QgsProcessingParameterNumber("MIN_INSTANCES", tr("Minimum instances per class"),
                                               QgsProcessingParameterNumber.Integer, 50, minValue=0),
            "A class with fewer instances (connected regions) than this in a split is named in the log and the "
            "report: 50 to 100 are a common minimum for a meaningful score.")
        add(self, QgsProcessingParameterBoolean("COUNT_INSTANCES", tr("Count instances in the masks"), True),
            "Reads the masks once to count each class's connected regions per split. Untick to skip reading them.")
        add(self, QgsProcessingParameterBoolean("COMPUTE_WEIGHTS", tr("Also compute sampler weights"), False),
            "Computes sampler_weight for the training split with the default method (class balance, cap 5); "
            "validation and test get 0. For other settings run 'Compute sampler weights' on the output.")
        add(self, QgsProcessingParameterFeatureSink("OUTPUT", tr("Split patches"), QgsProcessing.TypeVectorPolygon),
            "The input patches with the split field and the excl_split_buffer flag (excluded updated).")
        add(self, QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", tr("CSV folder"), optional=True,
                                                          createByDefault=False),
            "Optional folder for one CSV per split (train.csv, val.csv, test.csv), each with the sampler CSV's "
            "columns and only its usable patches.")
        add(self, QgsProcessingParameterFileDestination("REPORT", tr("Split report"), tr("HTML files (*.html)"),
                                                        optional=True, createByDefault=True),
            "Per split and class: pixel share, patches and instances, with the warnings; opens in the results viewer.")
        for key, label in (("BLOCK_COUNT", "Number of blocks"),
                           ("BUFFER_EXCLUDED", "Patches excluded by the buffer"),
                           ("MAX_FRACTION_ERROR", "Largest gap between a split's share of the patches and its fraction"),
                           ("MAX_CLASS_ERROR", "Largest gap between a class's share in a split and the split's fraction"),
                           ("WARNING_COUNT", "Number of warnings")):
            self.addOutput(QgsProcessingOutputNumber(key, tr(label)))
        self.addOutput(QgsProcessingOutputString("SPLIT_PATCHES", tr("Usable patches per split")))

    # --- checks -------------------------------------------------------------------------------------------------

    def checkParameterValues(self, parameters, context):
        ok, message = checked_parameters(self, parameters, context, super().checkParameterValues)
        if not ok:
            return ok, message
        try:
            self._split_config(parameters, context)
        except (BalanceError, QgsProcessingException) as exc:
            return False, str(exc)
        if not importable("scipy"):
            return False, install_message([("scipy", "splitting patches (the buffer and the instances)")])
        kind = BLOCK_KINDS[self.parameterAsEnum(parameters, "BLOCKS", context)]
        if kind == "region" and not parameters.get("REGIONS"):
            return False, self.tr("'Split by' is 'Regions': give the region polygons (REGIONS).")
        return True, self._folder_problem(parameters, context)

    def _folder_problem(self, parameters, context) -> str:
        """'' unless a split CSV would overwrite the input, another output, or a file in the way of the folder."""
        folder = self._folder(parameters, context)
        if not folder:
            return ""
        if os.path.exists(folder) and not os.path.isdir(folder):
            return self.tr("OUTPUT_FOLDER {} is a file, not a folder.").format(safe_source_name(folder))
        names = self._split_config(parameters, context).spec.names
        taken = {}
        layer = self.parameterAsVectorLayer(parameters, "INPUT", context)
        if layer is not None:
            taken[os.path.normcase(os.path.abspath(layer.source().split("|")[0]))] = "INPUT"
        for key in ("OUTPUT", "REPORT"):
            value = self.parameterAsOutputLayer(parameters, key, context) if key == "OUTPUT" else \
                self.parameterAsFileOutput(parameters, key, context)
            if value and not value.startswith(("memory:", "TEMPORARY")):
                taken[os.path.normcase(os.path.abspath(value.split("|")[0]))] = key
        for name, path in split_csv_paths(folder, names).items():
            other = taken.get(os.path.normcase(os.path.abspath(path)))
            if other:
                return self.tr("The split CSV {} would overwrite {} ({}); choose another CSV folder.").format(
                    safe_source_name(path), other, safe_source_name(path))
        return ""

    def _folder(self, parameters, context) -> str:
        value = parameters.get("OUTPUT_FOLDER")
        if value in (None, "") or (hasattr(value, "isNull") and value.isNull()):
            return ""
        return self.parameterAsString(parameters, "OUTPUT_FOLDER", context) or ""

    def _split_config(self, parameters, context) -> SplitConfig:
        spec = parse_split_spec(self.parameterAsString(parameters, "SPLIT_NAMES", context),
                                self.parameterAsString(parameters, "FRACTIONS", context))
        return SplitConfig(
            spec=spec, blocks=BLOCK_KINDS[self.parameterAsEnum(parameters, "BLOCKS", context)],
            block_size=self.parameterAsDouble(parameters, "BLOCK_SIZE", context),
            buffer=self.parameterAsDouble(parameters, "BUFFER", context),
            seed=self.parameterAsInt(parameters, "SEED", context),
            min_instances=self.parameterAsInt(parameters, "MIN_INSTANCES", context)).validate()

    # --- the run ------------------------------------------------------------------------------------------------

    @guarded_run
    def processAlgorithm(self, parameters, context, feedback):
        split_config = self._split_config(parameters, context)
        spec = split_config.spec
        source = read_patch_source(self, parameters, "INPUT", context, feedback, need_composition=True)
        table = source.table
        bounds = footprint_bounds(self, source.geometries)
        region_index = None
        if split_config.blocks == "region":
            region_index = self._regions(parameters, context, source.crs, bounds, feedback)
        legend = legend_or_error(self, parameters, context, feedback, patch_layer=source.layer,
                                 mask_paths=table["mask_path"].tolist() if "mask_path" in table else ())
        names = class_names(legend)
        progress = FeedbackProgress(feedback)
        try:
            outcome = split_patches(table, bounds, split_config, SubProgress(progress, 0.1, 0.5), region_index, names)
            table = outcome.table
            for note in outcome.notes:
                feedback.pushInfo(note)
            summary = outcome.summary
            if self.parameterAsBool(parameters, "COUNT_INSTANCES", context):
                summary = self._instances(table, summary, spec, SubProgress(progress, 0.5, 0.75), feedback)
            if self.parameterAsBool(parameters, "COMPUTE_WEIGHTS", context):
                table = self._weights(parameters, context, table, spec, SubProgress(progress, 0.75, 0.85), names)
        except BalanceError as exc:
            raise QgsProcessingException(str(exc)) from exc
        self._log(feedback, outcome, summary, names)
        dest_id = publish_patch_layer(self, parameters, context, feedback, table, source.geometries, source.crs, legend,
                                      self.tr("Split patches"), source.extra_fields, source.extra_values)
        folder = self._folder(parameters, context)
        if folder:
            write_split_csvs(table, folder, spec.names)
        report_path = self.parameterAsFileOutput(parameters, "REPORT", context)
        if report_path:
            settings = {"Splits": ", ".join(f"{n} {f:.0%}" for n, f in zip(spec.names, spec.fractions)),
                        "Blocks": f"{BLOCK_OPTIONS[BLOCK_KINDS.index(split_config.blocks)]}: {outcome.n_blocks}"
                                  + (f" of {outcome.block_size:g} map units" if outcome.block_size else ""),
                        "Buffer": f"{split_config.buffer:g} map units", "Random seed": str(split_config.seed),
                        "Minimum instances": str(split_config.min_instances)}
            strat = {"objective": outcome.score[0], "random": outcome.random[0]}
            with atomic_path(report_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
                fh.write(render_split_report(summary, legend, settings, strat, names=names))
        return {"OUTPUT": dest_id, "OUTPUT_FOLDER": folder or None, "REPORT": report_path or None,
                "BLOCK_COUNT": outcome.n_blocks, "BUFFER_EXCLUDED": int(summary.buffer_excluded.sum()),
                "MAX_FRACTION_ERROR": summary.max_fraction_error, "MAX_CLASS_ERROR": summary.max_allocation_error,
                "WARNING_COUNT": len(summary.warnings(names)),
                "SPLIT_PATCHES": ", ".join(f"{n}: {int(p)}" for n, p in zip(spec.names, summary.patches))}

    def _regions(self, parameters, context, crs, bounds, feedback) -> np.ndarray:
        """Per patch, the index of the first region (by feature id) holding its centre; −1 outside all."""
        regions = self.parameterAsSource(parameters, "REGIONS", context)
        if regions is None:
            raise QgsProcessingException(self.tr("The region layer could not be loaded."))
        transform = QgsCoordinateTransform(regions.sourceCrs(), crs, context.transformContext())
        engines, index = [], QgsSpatialIndex()
        request = QgsFeatureRequest().setSubsetOfAttributes([])
        for feature in sorted(regions.getFeatures(request), key=lambda f: f.id()):
            geometry = QgsGeometry(feature.geometry())
            if geometry.isEmpty():
                continue
            if transform.isValid() and not transform.isShortCircuited():
                geometry.transform(transform)
            engine = QgsGeometry.createGeometryEngine(geometry.constGet())
            engine.prepareGeometry()
            index.addFeature(len(engines), geometry.boundingBox())
            engines.append(engine)
        if not engines:
            raise QgsProcessingException(self.tr("The region layer holds no polygon."))
        centres = np.column_stack([(bounds[:, 0] + bounds[:, 2]) / 2.0, (bounds[:, 1] + bounds[:, 3]) / 2.0])
        out = np.full(len(centres), -1, dtype=np.int64)
        for i, (x, y) in enumerate(centres.tolist()):
            if i % 5000 == 0 and feedback.isCanceled():
                raise QgsProcessingException(self.tr("Cancelled by the user; nothing was written."))
            point = QgsPoint(x, y)
            for k in sorted(index.intersects(QgsRectangle(x, y, x, y))):
                if engines[k].contains(point):
                    out[i] = k
                    break
        outside = int((out < 0).sum())
        feedback.pushInfo(self.tr("{} region(s); {} of {} patches lie in one").format(
            len(engines), len(out) - outside, len(out)))
        if outside:
            feedback.pushInfo(self.tr("{} patch(es) lie outside every region: they are split by grid cells.").format(
                outside))
        return out

    def _instances(self, table, summary, spec, progress, feedback):
        if not all(name in table for name in ("mask_path", "row_off", "col_off", "patch_size")):
            feedback.pushWarning(self.tr("Instances not counted: the layer has no mask windows (mask_path, row_off, "
                                         "col_off, patch_size)."))
            return summary
        codes = split_codes(table, spec.names)
        drawable = ~np.asarray(table["excluded"], dtype=bool) & (codes >= 0)
        try:
            instances = count_instances(table, codes, drawable, len(spec.names), progress)
        except BalanceError as exc:
            if "Cancelled" in str(exc):
                raise
            feedback.pushWarning(self.tr("Instances not counted: {}").format(exc))
            return summary
        return summary.with_instances(instances)

    def _weights(self, parameters, context, table, spec, progress, names):
        """The default weights (class balance; uniqueness as its base when the layer has it), training split only."""
        config = read_config(self, parameters, context, mode=MODE_OF_SIGNALS[(True, "uniqueness_score" in table)])
        problem = self.check_config(config)
        if problem:
            raise QgsProcessingException(problem)
        return weights_step(table, config, progress, names, spec.training)

    def _log(self, feedback, outcome, summary, names):
        for name, want, got, patches in zip(summary.names, summary.requested, summary.achieved, summary.patches):
            feedback.pushInfo(self.tr("{}: {} usable patches, {:.1%} of them ({:.1%} requested)").format(
                name, int(patches), got, want))
        feedback.pushInfo(self.tr(
            "Stratification: score {:.3g} against {:.3g} for a random assignment of the same {} blocks; largest gap "
            "between a class's share in a split and the split's fraction: {:.1f} points").format(
                outcome.score[0], outcome.random[0], outcome.n_blocks, summary.max_allocation_error * 100))
        if summary.buffer_excluded.sum():
            feedback.pushInfo(self.tr("Excluded by the buffer: {}").format(", ".join(
                f"{n} {int(k)}" for n, k in zip(summary.names, summary.buffer_excluded))))
        for warning in summary.warnings(names):
            feedback.pushWarning(warning)


def footprint_bounds(alg, geometries) -> np.ndarray:
    """(n, 4) bounding rectangles of the patch footprints, in the layer's CRS."""
    bounds = np.empty((len(geometries), 4), dtype=np.float64)
    for i, geometry in enumerate(geometries):
        if geometry is None or geometry.isEmpty():
            raise QgsProcessingException(alg.tr(
                "Patch {} has no footprint: the split needs every patch's polygon (row {}).").format(i + 1, i + 1))
        box = geometry.boundingBox()
        bounds[i] = (box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum())
    return bounds
