"""QGIS plugin entry: the Processing provider (also for qgis_process, which calls initProcessing
only) and, in the desktop, the class balance dock with its menu, toolbar and layer-menu entries."""
from pathlib import Path

from qgis.core import QgsApplication, QgsMapLayerType, QgsProject
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from .processing_provider.provider import PatchBalancerProvider
from .ui.class_balance_dock import ClassBalanceDock
from .ui.patch_columns import patch_layer_problem

MENU = "&Patch Balancer"
ICON = str(Path(__file__).resolve().parent / "icon.svg")


class PatchBalancerPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.dock = None
        self.dock_action = None
        self.layer_action = None
        self.deps_action = None
        self.deps_dialog = None

    def initProcessing(self):  # noqa: N802
        if self.provider is None:
            provider = PatchBalancerProvider()
            if QgsApplication.processingRegistry().addProvider(provider):  # False if the id is taken
                self.provider = provider

    def initGui(self):  # noqa: N802
        self.initProcessing()
        window = self.iface.mainWindow()
        self.dock = ClassBalanceDock(window)
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()  # opened from the menu, the toolbar or a patch layer's context menu

        # Shows the dock (never hides it: QGIS may have restored it open, and the menu entry must not close it);
        # the dock's own close button closes it.
        self.dock_action = QAction(QIcon(ICON), "Class balance", window)
        self.dock_action.setToolTip("Show the per-class shares of the active patch layer, raw vs. under the "
                                    "sampler weights")
        self.dock_action.triggered.connect(self.show_dock)
        self.iface.addPluginToMenu(MENU, self.dock_action)
        self.iface.addToolBarIcon(self.dock_action)
        self.deps_action = QAction("Install dependencies…", window)
        self.deps_action.setToolTip("Which optional Python packages are present, and install the missing ones")
        self.deps_action.triggered.connect(self.show_dependencies)
        self.iface.addPluginToMenu(MENU, self.deps_action)

        self.layer_action = QAction(QIcon(ICON), "Show Class Balance", window)
        self.layer_action.triggered.connect(self.show_active_layer)
        # Listed in the context menu of patch layers only (added one by one as they appear).
        self.iface.addCustomActionForLayerType(self.layer_action, "", QgsMapLayerType.VectorLayer, False)
        self.layers_added(QgsProject.instance().mapLayers().values())
        QgsProject.instance().layersAdded.connect(self.layers_added)
        self.iface.currentLayerChanged.connect(self.dock.follow)
        self.dock.follow(self.iface.activeLayer())

    def layers_added(self, layers):
        layers = list(layers)
        for layer in layers:
            if patch_layer_problem(layer) is None:
                self.iface.addCustomActionForLayer(self.layer_action, layer)
        self.dock.layers_added(layers)

    def show_dependencies(self):
        from .ui.dependencies_dialog import DependenciesDialog

        if self.deps_dialog is None:
            self.deps_dialog = DependenciesDialog(self.iface.mainWindow())
        self.deps_dialog.refresh()
        self.deps_dialog.show()
        self.deps_dialog.raise_()

    def show_dock(self):
        self.dock.follow(self.iface.activeLayer())
        self.dock.show()
        self.dock.raise_()

    def show_active_layer(self):
        """'Show Class Balance' on a layer: that layer, pinned or not (the pin then stays on it)."""
        self.dock.set_layer(self.iface.activeLayer())
        self.dock.show()
        self.dock.raise_()

    def unload(self):
        if self.deps_action is not None:
            self.iface.removePluginMenu(MENU, self.deps_action)
            self.deps_action.deleteLater()
            self.deps_action = None
        if self.deps_dialog is not None:
            self.deps_dialog.close_and_forget()
            self.deps_dialog = None
        if self.dock is not None:
            QgsProject.instance().layersAdded.disconnect(self.layers_added)
            self.iface.currentLayerChanged.disconnect(self.dock.follow)
            self.iface.removeCustomActionForLayerType(self.layer_action)
            self.iface.removePluginMenu(MENU, self.dock_action)
            self.iface.removeToolBarIcon(self.dock_action)
            self.iface.removeDockWidget(self.dock)
            self.dock.release()
            self.dock.setParent(None)
            self.dock.deleteLater()
            self.dock_action.deleteLater()
            self.layer_action.deleteLater()
            self.dock = self.dock_action = self.layer_action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
