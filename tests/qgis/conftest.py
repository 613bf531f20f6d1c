"""Loads this checkout as the `patch_balancer` plugin package and registers its provider in real QGIS."""
import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_plugin_package():
    if "patch_balancer" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "patch_balancer", REPO / "__init__.py", submodule_search_locations=[str(REPO)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["patch_balancer"] = module
        spec.loader.exec_module(module)
    return sys.modules["patch_balancer"]


@pytest.fixture(scope="session")
def plugin(qgis_processing, qgis_iface):
    load_plugin_package()
    from patch_balancer.plugin import PatchBalancerPlugin

    instance = PatchBalancerPlugin(qgis_iface)
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
