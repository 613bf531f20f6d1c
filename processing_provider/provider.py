"""The `patchbalancer` Processing provider; it lists its algorithms explicitly."""
import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms.build_balanced_dataset import BuildBalancedDatasetAlgorithm

ICON = os.path.join(os.path.dirname(os.path.dirname(__file__)), "icon.svg")


class PatchBalancerProvider(QgsProcessingProvider):
    def id(self):
        return "patchbalancer"

    def name(self):
        return "Patch Balancer"

    def longName(self):
        return "Patch Balancer: balanced patch sampling for segmentation training"

    def icon(self):
        return QIcon(ICON)

    def svgIconPath(self):
        return ICON

    def loadAlgorithms(self):
        self.addAlgorithm(BuildBalancedDatasetAlgorithm())
