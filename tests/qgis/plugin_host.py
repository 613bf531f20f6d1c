"""What the QGIS tests need to host the plugin: this checkout loaded as `patch_balancer`, and an iface.

pytest-qgis's `QgisInterface` stands in for QGIS's iface with stubs. The dock needs a few
members it lacks or stubs (`currentLayerChanged` carrying a layer, docks placed in the main
window, menus, toolbar and layer context-menu entries that can be listed), so `HostIface`
completes it with real Qt behaviour and keeps a record the tests can assert on.
"""
from pytest_qgis.qgis_interface import QgisInterface
from qgis.core import QgsMapLayer, QgsProject
from qgis.PyQt.QtCore import QObject, pyqtSignal

from scripts.plugin_package import load_plugin_package

__all__ = ["HostIface", "load_plugin_package"]


class HostIface(QgisInterface):
    currentLayerChanged = pyqtSignal(QgsMapLayer)  # noqa: N815 (QGIS's name)

    def __init__(self, canvas, message_bar, main_window):
        QObject.__init__(self)  # not QgisInterface.__init__: the session's own iface already wires the project
        self.canvas, self._messageBar, self._mainWindow = canvas, message_bar, main_window
        self._active_layer_id = None
        self._layers, self._toolbars = [], {}
        self.menus: dict[str, list] = {}
        self.toolbar_actions: list = []
        self.layer_type_actions: list = []
        self.layer_actions: dict[str, list] = {}

    def activeLayer(self):  # noqa: N802
        return QgsProject.instance().mapLayer(self._active_layer_id) if self._active_layer_id else None

    def setActiveLayer(self, layer):  # noqa: N802
        self._active_layer_id = layer.id() if layer is not None else None
        self.currentLayerChanged.emit(layer)

    def addDockWidget(self, area, dock):  # noqa: N802
        self._mainWindow.addDockWidget(area, dock)

    def removeDockWidget(self, dock):  # noqa: N802
        self._mainWindow.removeDockWidget(dock)

    def addPluginToMenu(self, name, action):  # noqa: N802
        self.menus.setdefault(name, []).append(action)

    def removePluginMenu(self, name, action):  # noqa: N802
        self.menus.get(name, []).remove(action)
        if not self.menus.get(name):
            self.menus.pop(name, None)

    def addToolBarIcon(self, action):  # noqa: N802
        self.toolbar_actions.append(action)

    def removeToolBarIcon(self, action):  # noqa: N802
        self.toolbar_actions.remove(action)

    def addCustomActionForLayerType(self, action, menu, layer_type, all_layers=True):  # noqa: N802
        self.layer_type_actions.append((action, layer_type, all_layers))

    def addCustomActionForLayer(self, action, layer):  # noqa: N802
        self.layer_actions.setdefault(layer.id(), []).append(action)

    def removeCustomActionForLayerType(self, action):  # noqa: N802
        self.layer_type_actions = [entry for entry in self.layer_type_actions if entry[0] is not action]
        self.layer_actions = {k: [a for a in v if a is not action] for k, v in self.layer_actions.items()}
        self.layer_actions = {k: v for k, v in self.layer_actions.items() if v}
        return True
