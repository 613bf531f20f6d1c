"""Shared base of the plugin's algorithms: instance creation, translation, dependency check."""
import importlib.util

from qgis.core import QgsProcessingAlgorithm
from qgis.PyQt.QtCore import QCoreApplication

REQUIRED_MODULES = {"sklearn": "scikit-learn", "rasterio": "rasterio (Debian: python3-rasterio)"}


def missing_modules() -> list[str]:
    return [pip_name for module, pip_name in REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]


class PatchBalancerAlgorithm(QgsProcessingAlgorithm):
    def createInstance(self):
        return type(self)()

    def tr(self, text: str) -> str:
        return QCoreApplication.translate(type(self).__name__, text)

    def canExecute(self):
        missing = missing_modules()
        if missing:
            return False, self.tr(
                "Patch Balancer needs these Python packages in QGIS's Python: {}. "
                "Run `make setup` in the plugin folder, or install them with pip / apt."
            ).format(", ".join(missing))
        return True, ""
