"""Loads this checkout as the `patch_balancer` plugin in real QGIS: provider, dock and actions (initGui)."""
import pytest

from tests.qgis.plugin_host import HostIface, load_plugin_package


@pytest.fixture(scope="session")
def host_iface(qgis_iface):
    """pytest-qgis's canvas and main window (shown, offscreen, as QGIS's is), with the iface members the dock uses."""
    qgis_iface.mainWindow().show()
    return HostIface(qgis_iface.mapCanvas(), qgis_iface.messageBar(), qgis_iface.mainWindow())


@pytest.fixture(scope="session")
def plugin(qgis_processing, host_iface):
    load_plugin_package()
    from patch_balancer.plugin import PatchBalancerPlugin

    instance = PatchBalancerPlugin(host_iface)
    instance.initGui()
    yield instance
    instance.unload()


@pytest.fixture(scope="session")
def provider(plugin):
    return plugin.provider


@pytest.fixture(scope="session")
def processing_run(provider):
    """`processing.run`, importable once pytest-qgis has put QGIS's bundled plugins on sys.path."""
    import processing

    return processing.run
