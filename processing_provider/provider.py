"""The `patchbalancer` Processing provider; it lists its algorithms explicitly."""
import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms.build_balanced_dataset import BuildBalancedDatasetAlgorithm
from .algorithms.compute_class_composition import ComputeClassCompositionAlgorithm
from .algorithms.compute_sampler_weights import ComputeSamplerWeightsAlgorithm
from .algorithms.compute_visual_uniqueness import ComputeVisualUniquenessAlgorithm
from .algorithms.create_patch_grid import CreatePatchGridAlgorithm
from .algorithms.plan_balance import PlanBalanceAlgorithm
from .algorithms.select_coreset import SelectCoresetAlgorithm
from .algorithms.split_patches import SplitPatchesAlgorithm

ICON = os.path.join(os.path.dirname(os.path.dirname(__file__)), "icon.svg")
ALGORITHMS = (CreatePatchGridAlgorithm, ComputeClassCompositionAlgorithm, ComputeVisualUniquenessAlgorithm,
              ComputeSamplerWeightsAlgorithm, BuildBalancedDatasetAlgorithm, PlanBalanceAlgorithm,
              SplitPatchesAlgorithm, SelectCoresetAlgorithm)


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
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())
