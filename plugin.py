"""QGIS plugin entry: registers the Processing provider (also for qgis_process, which calls initProcessing only)."""
from qgis.core import QgsApplication

from .processing_provider.provider import PatchBalancerProvider


class PatchBalancerPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802
        if self.provider is None:
            provider = PatchBalancerProvider()
            if QgsApplication.processingRegistry().addProvider(provider):  # False if the id is taken
                self.provider = provider

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
