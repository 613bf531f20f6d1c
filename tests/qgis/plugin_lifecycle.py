"""Loads and unloads the plugin twice in a fresh QGIS, as the Plugin Reloader does; run by
test_class_balance_dock.py in its own process so the session's provider is not disturbed.

Exits non-zero (an AssertionError) if anything the plugin added survives its unload.
"""
import sys

from qgis.core import QgsApplication, QgsProject
from qgis.gui import QgsMapCanvas
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QDockWidget, QMainWindow

from tests.qgis.plugin_host import HostIface, load_plugin_package


def main() -> None:
    app = QgsApplication([], True)
    app.initQgis()
    window = QMainWindow()
    canvas = QgsMapCanvas(window)
    iface = HostIface(canvas, None, window)
    registry, project = QgsApplication.processingRegistry(), QgsProject.instance()
    baseline = project.receivers(project.layersAdded)
    package = load_plugin_package()
    for _ in range(2):
        plugin = package.classFactory(iface)
        plugin.initGui()
        dock = plugin.dock
        assert registry.providerById("patchbalancer") is not None
        assert window.findChildren(QDockWidget, dock.objectName()) == [dock]
        assert iface.menus and iface.toolbar_actions and iface.layer_type_actions
        assert iface.receivers(iface.currentLayerChanged) == 1
        plugin.unload()
        QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
        assert registry.providerById("patchbalancer") is None, "provider left registered"
        assert sip.isdeleted(dock) and not window.findChildren(QDockWidget), "dock left behind"
        assert not iface.menus and not iface.toolbar_actions and not iface.layer_type_actions, "actions left"
        assert iface.receivers(iface.currentLayerChanged) == 0, "still listening to the active layer"
        assert project.receivers(project.layersAdded) == baseline, "still listening to the project"
    del canvas, window
    app.exitQgis()
    print("clean unload x2")


if __name__ == "__main__":
    sys.exit(main())
