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


@pytest.fixture(scope="session")
def demo_output(processing_run, tmp_path_factory):
    """The demo of `make demo` (generated scene, 128 px patches, class names and colours, cap 5), built through
    processing.run: {"image", "mask", "gpkg", "report", "results"}."""
    import sys
    from pathlib import Path

    scripts = str(Path(__file__).resolve().parents[2] / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    from demo_scene import CLASS_COLOURS, CLASS_NAMES, write_scene

    folder = tmp_path_factory.mktemp("demo")
    image, mask, class_map = folder / "demo_image.tif", folder / "demo_mask.tif", folder / "demo_classes.csv"
    write_scene(str(image), str(mask))
    class_map.write_text("value,name,colour\n" + "".join(f"{v},{n},{CLASS_COLOURS[v]}\n" for v, n in CLASS_NAMES.items()))
    results = processing_run("patchbalancer:buildbalanceddataset", {
        "IMAGE": str(image), "MASK": str(mask), "PATCH_SIZE": 128, "CLASS_MAP": str(class_map), "MAX_OVERSAMPLING": 5,
        "OUTPUT": str(folder / "demo_patches.gpkg"), "REPORT": str(folder / "demo_report.html")})
    return {"image": str(image), "mask": str(mask), "gpkg": str(folder / "demo_patches.gpkg"),
            "report": str(folder / "demo_report.html"), "results": results}
