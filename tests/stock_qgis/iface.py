"""A stand-in for QGIS's iface with real Qt behaviour where the plugin needs it (no pytest-qgis).

Docks go into a real main window, menus and toolbar entries are recorded; any other iface call the
plugin makes is accepted and recorded in `calls`, so a new call does not break the stock-QGIS probe.
"""
from qgis.core import QgsMapLayer, QgsProject
from qgis.PyQt.QtCore import QObject, pyqtSignal


class StandInIface(QObject):
    currentLayerChanged = pyqtSignal(QgsMapLayer)  # noqa: N815 (QGIS's name)

    def __init__(self, window):
        from qgis.gui import QgsMapCanvas, QgsMessageBar

        super().__init__()
        self._window = window
        self._canvas, self._bar = QgsMapCanvas(window), QgsMessageBar(window)
        self.menus, self.toolbar_actions, self.calls = {}, [], []

    def mapCanvas(self):  # noqa: N802
        return self._canvas

    def messageBar(self):  # noqa: N802
        return self._bar

    def mainWindow(self):  # noqa: N802
        return self._window

    def activeLayer(self):  # noqa: N802
        return None

    def addDockWidget(self, area, dock):  # noqa: N802
        self._window.addDockWidget(area, dock)

    def removeDockWidget(self, dock):  # noqa: N802
        self._window.removeDockWidget(dock)

    def addPluginToMenu(self, name, action):  # noqa: N802
        self.menus.setdefault(name, []).append(action)

    def removePluginMenu(self, name, action):  # noqa: N802
        self.menus.get(name, []).remove(action)

    def addToolBarIcon(self, action):  # noqa: N802
        self.toolbar_actions.append(action)

    def removeToolBarIcon(self, action):  # noqa: N802
        self.toolbar_actions.remove(action)

    def mapLayers(self):  # noqa: N802
        return QgsProject.instance().mapLayers()

    def pluginManagerInterface(self):  # noqa: N802 - QGIS's plugin installer reports through it
        return _Recorder(self.calls)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args, **kwargs):
            self.calls.append(name)
            return True

        return record


class _Recorder:
    """Accepts any call, records its name (and a message's text)."""

    def __init__(self, calls):
        self.calls = calls

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append(name + (f": {args[0]}" if args and isinstance(args[0], str) else ""))
            return True

        return record
