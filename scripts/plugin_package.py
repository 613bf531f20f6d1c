"""Imports this checkout as the `patch_balancer` plugin package, whatever its folder is called.

The plugin uses relative imports (its folder name is the installer's choice), so the tests,
benchmarks and the demo load it as QGIS does: as a package, under one fixed name.
"""
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_plugin_package(name: str = "patch_balancer"):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "__init__.py", submodule_search_locations=[str(REPO)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
