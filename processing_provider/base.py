"""Shared base of the plugin's algorithms: instance creation, translation, dependency checks, and
the frame of every run (outputs checked first, staged while it works, committed only on success)."""
import functools
import importlib.util

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtCore import QCoreApplication

from ..balance_core.dinov2 import INSTALL_HINT, missing_packages
from ..balance_core.errors import BalanceError
from ..balance_core.staged_outputs import StagedOutputs, staging
from .destinations import check_destinations
from .interrupt import cancel_on_interrupt
from ..balance_core.knn import available as knn_backend_available
from .parameters import check_all_loaded
from .patch_layer import safe_source_name

REQUIRED_MODULES = {"sklearn": "scikit-learn", "rasterio": "rasterio (Debian: python3-rasterio)"}
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


def missing_modules() -> list[str]:
    return [pip_name for module, pip_name in REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]


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
        missing = missing_modules()
        if missing:
            return False, self.tr(
                "Patch Balancer needs these Python packages in QGIS's Python: {}. "
                "Run `make setup` in the plugin folder, or install them with pip / apt."
            ).format(", ".join(missing))
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
        if config.needs_uniqueness:
            if config.embedder.strip().lower() != "descriptor" and missing_packages():
                return self.tr("Missing {}. {}").format(", ".join(missing_packages()), INSTALL_HINT)
            if config.knn_backend in ("hnsw", "faiss") and not knn_backend_available(config.knn_backend):
                return self.tr("Nearest-neighbour search '{}' is not installed here; choose 'auto'.").format(config.knn_backend)
            if config.embeddings_cache and importlib.util.find_spec("pyarrow") is None:
                return self.tr("The embeddings cache needs pyarrow (pip install pyarrow); leave the cache empty to run without it.")
        return ""
