"""Shared base of the plugin's algorithms: instance creation, translation, dependency checks, and
the frame of every run (outputs checked first, staged while it works, committed only on success)."""
import functools
import importlib.util

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtCore import QCoreApplication

from ..balance_core.dependencies import install_message, missing_for
from ..balance_core.errors import BalanceError
from ..balance_core.staged_outputs import StagedOutputs, staging
from .destinations import check_destinations
from .interrupt import cancel_on_interrupt
from .parameters import check_all_loaded
from .patch_layer import safe_source_name

GROUP, GROUP_ID = "Balanced sampling", "balancedsampling"


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
        try:
            with cancel_on_interrupt(feedback), staging(StagedOutputs()) as outputs:
                results = process_algorithm(self, parameters, context, feedback)
                if feedback is not None and feedback.isCanceled():
                    raise QgsProcessingException(self.tr("Cancelled by the user; nothing was written."))
                outputs.commit()
        except BalanceError as exc:
            raise QgsProcessingException(str(exc)) from exc
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

    def tr(self, text: str) -> str:
        return QCoreApplication.translate(type(self).__name__, text)

    def group(self):
        return self.tr(GROUP)

    def groupId(self):
        return GROUP_ID

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
