"""Shared base of the plugin's algorithms: instance creation, translation, dependency checks, and
the frame of every run (outputs checked first, staged while it works, committed only on success)."""
import functools
import importlib.util

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingOutputHtml
from qgis.PyQt.QtCore import QCoreApplication, QThread, QTimer
from qgis.PyQt.QtGui import QIcon

from ..balance_core.dependencies import install_message, missing_for
from ..balance_core.errors import BalanceError
from ..balance_core.staged_outputs import StagedOutputs, staging
from .destinations import check_destinations
from .algorithm_info import (MAIN_GROUP, MAIN_GROUP_ID, STEP_GROUP, STEP_GROUP_ID, help_url, icon_path, in_step_group,
                             tags)
from .interrupt import cancel_on_interrupt
from .output_names import input_label, name_report_later, rename_results
from .parameters import check_all_loaded
from .patch_layer import safe_source_name

GROUP, GROUP_ID = MAIN_GROUP, MAIN_GROUP_ID  # the four steps go in STEP_GROUP (algorithm_info)


def guarded_run(process_algorithm):
    """Decorates an algorithm's processAlgorithm: the frame every run of this plugin shares.

    - destinations are checked before any work (no output is an input or another output, all writable);
    - Ctrl+C / SIGTERM in `qgis_process` cancel like the Cancel button;
    - every file output is staged and put in place only when the run succeeded: a failed or cancelled
      run leaves the user's files byte for byte as they were and nothing new behind;
    - engine errors reach QGIS as QgsProcessingException (a message, not a traceback).
    """

    @functools.wraps(process_algorithm)
    def run(self, parameters, context, feedback):
        problem = check_destinations(self, parameters, context)
        if problem:
            raise QgsProcessingException(problem)
        self.run_label = input_label(self, parameters, context)  # names this run's outputs (output_names)
        try:
            with cancel_on_interrupt(feedback), staging(StagedOutputs()) as outputs:
                results = process_algorithm(self, parameters, context, feedback)
                if feedback is not None and feedback.isCanceled():
                    raise QgsProcessingException(self.tr("Cancelled by the user; nothing was written."))
                outputs.commit()
        except BalanceError as exc:
            raise QgsProcessingException(str(exc)) from exc
        for output in self.outputDefinitions():  # the Results Viewer lists HTML outputs: name this run's
            if isinstance(output, QgsProcessingOutputHtml) and results.get(output.name()):
                name_report_later(results[output.name()], output.description(), self.run_label)
        return results

    return run


def raster_reader_missing() -> bool:
    """No way to read rasters at all: neither GDAL's Python bindings (QGIS ships them) nor rasterio."""
    return importlib.util.find_spec("osgeo") is None and importlib.util.find_spec("rasterio") is None


class PatchBalancerAlgorithm(QgsProcessingAlgorithm):
    def __init__(self):
        super().__init__()
        self.stylers = []  # post-processors of this run's outputs, never class-level singletons

    def createInstance(self):
        return type(self)()

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 (QGIS)
        # On the main thread, just before the algorithm dialog adds the HTML outputs to the Results Viewer
        # under their descriptions: rename them right after (output_names).
        app = QCoreApplication.instance()
        if app is not None and QThread.currentThread() == app.thread():  # a model's child may run elsewhere
            QTimer.singleShot(0, rename_results)
        return {}

    def tr(self, text: str) -> str:
        return QCoreApplication.translate(type(self).__name__, text)

    def group(self):
        return self.tr(STEP_GROUP if in_step_group(self.name()) else GROUP)

    def groupId(self):
        return STEP_GROUP_ID if in_step_group(self.name()) else GROUP_ID

    def icon(self):
        return QIcon(icon_path(self.name()))

    def svgIconPath(self):  # noqa: N802 (QGIS)
        return icon_path(self.name())

    def tags(self):
        return [self.tr(tag) for tag in tags(self.name())]

    def helpUrl(self):  # noqa: N802 (QGIS)
        return help_url(self.name())

    def canExecute(self):
        """Every algorithm runs on what QGIS ships (numpy, GDAL's bindings) with some settings; what a given
        setting needs beyond that (scipy for class_balance, torch for DINOv2, …) is named by
        checkParameterValues, with how to install it (balance_core/dependencies.py)."""
        if raster_reader_missing():
            return False, self.tr(
                "Patch Balancer reads rasters through GDAL's Python bindings (osgeo.gdal), which this Python "
                "lacks; QGIS ships them, so this is not QGIS's own Python. Install GDAL's bindings or rasterio.")
        return True, ""

    def checkParameterValues(self, parameters, context):
        for key, role in (("IMAGE", "image"), ("MASK", "mask")):
            if self.parameterDefinition(key) is not None:
                try:  # before QGIS's own check, which only says "Incorrect parameter value"
                    check_all_loaded(self, parameters, key, context, role)
                except QgsProcessingException as exc:
                    return False, str(exc)
        ok, message = super().checkParameterValues(parameters, context)
        if ok:
            message = check_destinations(self, parameters, context)
            ok = not message
        return ok, safe_source_name(message)  # QGIS quotes an unloadable source verbatim, password included

    def check_config(self, config) -> str:
        """'' when the settings can run here, else what to change or install."""
        try:
            config.validate()
        except BalanceError as exc:
            return str(exc)
        missing = missing_for(config)
        if missing:
            message = install_message(missing, config)
            if config.needs_uniqueness and config.knn_backend in ("hnsw", "faiss", "sklearn"):
                message += " Or choose KNN_BACKEND auto."
            if config.needs_uniqueness and config.embeddings_cache:
                message += " Or leave EMBEDDINGS_CACHE empty to run without the cache."
            return message
        return ""
