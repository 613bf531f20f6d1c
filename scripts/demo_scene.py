"""The demo scene lives in the engine (balance_core/demo_scene.py) so that `patch-balancer demo` can write it without
QGIS; this name stays for the scripts that import it."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from balance_core.demo_scene import CLASS_COLOURS, CLASS_NAMES, COLORS, NODATA, make_mask, make_scene, write_scene  # noqa: E402,F401
