"""Makes this Python look like a stock QGIS: the packages QGIS does not ship cannot be found.

Put this folder first on PYTHONPATH (Python imports `sitecustomize` at start-up). Each top-level name in
$STOCK_QGIS_BLOCK (comma-separated) is hidden from the path finder, so `import sklearn` raises
ModuleNotFoundError and `importlib.util.find_spec("sklearn")` is None, exactly as where it is not installed;
a copy found under a folder of $STOCK_QGIS_ALLOW (os.pathsep-separated, e.g. the plugin's dependency folder)
is still found.
"""
import os
import sys
from importlib.machinery import PathFinder

BLOCKED = {name.strip() for name in os.environ.get("STOCK_QGIS_BLOCK", "").split(",") if name.strip()}
ALLOWED = tuple(os.path.realpath(p) + os.sep for p in os.environ.get("STOCK_QGIS_ALLOW", "").split(os.pathsep) if p)


class StockPathFinder(PathFinder):
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or path is not None or fullname not in BLOCKED:
            return spec  # submodules are reached only through an allowed parent
        if _allowed(spec):
            return spec
        allowed_entries = [p for p in sys.path if ALLOWED and (os.path.realpath(p) + os.sep).startswith(ALLOWED)]
        spec = PathFinder.find_spec(fullname, allowed_entries, target) if allowed_entries else None
        return spec if spec is not None and _allowed(spec) else None


def _allowed(spec) -> bool:
    where = os.path.realpath(spec.origin or next(iter(spec.submodule_search_locations or []), ""))
    return bool(ALLOWED) and where.startswith(ALLOWED)


if BLOCKED:
    sys.meta_path[:] = [StockPathFinder if finder is PathFinder else finder for finder in sys.meta_path]
    for name in list(sys.modules):
        if name.partition(".")[0] in BLOCKED:  # imported by site (a .pth file) before this ran
            del sys.modules[name]
