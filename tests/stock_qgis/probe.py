"""Loads the plugin in a fresh QGIS (offscreen) the way QGIS does, and reports what works, as JSON on stdout.

Run by tests/install/test_stock_qgis.py with QGIS's Python (not the .venv), a fresh profile
(QGIS_CUSTOM_CONFIG_PATH) and tests/stock_qgis/sitecustomize.py hiding what QGIS does not ship:

    python3 probe.py PLUGINS_DIR DATA_DIR OUT_DIR

PLUGINS_DIR holds the plugin as `patch_balancer` (a link to the checkout, or unzipped from the package).
Nothing here imports pytest or pytest-qgis.
"""
import json
import os
import sys
import time
import traceback

HEAVY = ("scipy", "sklearn", "rasterio", "affine", "torch", "transformers", "pyarrow", "hnswlib", "faiss")


def main(plugins_dir, data_dir, out_dir):
    report = {"python": sys.version.split()[0], "blocked": os.environ.get("STOCK_QGIS_BLOCK", "")}
    from qgis.core import QgsApplication

    app = QgsApplication([], True)
    app.initQgis()
    report["profile"] = QgsApplication.qgisSettingsDirPath()
    sys.path.insert(0, os.path.join(sys.prefix, "share", "qgis", "python", "plugins"))  # processing
    sys.path.insert(0, plugins_dir)
    import qgis.utils
    from qgis.PyQt.QtWidgets import QMainWindow

    from iface import StandInIface

    window = QMainWindow()
    window.show()
    iface = StandInIface(window)
    qgis.utils.iface = iface
    qgis.utils.plugin_paths = [plugins_dir]
    qgis.utils.updateAvailablePlugins()
    before = set(sys.modules)
    started = time.perf_counter()
    report["loaded"] = bool(qgis.utils.loadPlugin("patch_balancer"))
    report["started"] = bool(qgis.utils.startPlugin("patch_balancer"))
    report["load_seconds"] = round(time.perf_counter() - started, 3)
    report["heavy_modules_imported"] = sorted({m.partition(".")[0] for m in set(sys.modules) - before} & set(HEAVY))
    plugin = qgis.utils.plugins.get("patch_balancer")
    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("patchbalancer")
    report["provider"] = provider is not None
    report["algorithms"] = sorted(a.id() for a in provider.algorithms()) if provider else []
    report["can_execute"] = {a.id(): list(a.canExecute()) for a in provider.algorithms()} if provider else {}

    if plugin is not None and plugin.dock is not None:
        plugin.show_active_layer()
        app.processEvents()
        report["dock_visible"] = plugin.dock.isVisible()
        plugin.show_dependencies()
        app.processEvents()
        dialog = plugin.deps_dialog
        report["dependencies_dialog"] = {k: label.text() for k, label in dialog.states.items()}
        report["dependencies_ticked"] = dialog.selected()

    report["runs"] = run_algorithms(data_dir, out_dir)
    if plugin is not None:
        qgis.utils.unloadPlugin("patch_balancer")
        report["provider_after_unload"] = registry.providerById("patchbalancer") is not None
    print("PROBE-REPORT " + json.dumps(report), flush=True)
    os._exit(0)  # the report is out; QGIS's teardown of a stand-in main window is not what is tested here


def run_algorithms(data_dir, out_dir):
    import processing
    from processing.core.Processing import Processing
    from qgis.core import QgsProcessingException

    Processing.initialize()
    from patch_balancer.balance_core.config import SAMPLING_METHODS

    method = {name: 1 + i for i, name in enumerate(SAMPLING_METHODS)}
    pair = {"IMAGE": os.path.join(data_dir, "lyon", "image_rgb.tif"), "MASK": os.path.join(data_dir, "lyon", "labels.tif"),
            "PATCH_SIZE": 64}
    cases = {
        "masks_default": {"MODE": 0},
        "masks_repeat_factor": {"MODE": 0, "SAMPLING_METHOD": method["repeat_factor"]},
        "masks_rank_composition": {"MODE": 0, "SAMPLING_METHOD": method["composition_only"]},
        "both_dinov2": {"MODE": 2, "EMBEDDER": "dinov2-small", "SAMPLING_METHOD": method["sqrt_inverse_freq"]},
        "both_descriptor": {"MODE": 2, "EMBEDDER": "descriptor", "SAMPLING_METHOD": method["sqrt_inverse_freq"]},
    }
    runs = {}
    for name, extra in cases.items():
        out = os.path.join(out_dir, f"{name}.gpkg")
        try:
            result = processing.run("patchbalancer:buildbalanceddataset",
                                    {**pair, **extra, "OUTPUT": out, "OUTPUT_CSV": os.path.join(out_dir, f"{name}.csv")})
            runs[name] = {"ok": True, "patches": result.get("PATCH_COUNT"), "clusters": result.get("CLUSTER_COUNT"),
                          "written": os.path.exists(out)}
        except QgsProcessingException as exc:
            runs[name] = {"ok": False, "message": str(exc), "written": os.path.exists(out)}
        except Exception:  # noqa: BLE001 - reported: a traceback is what this probe exists to catch
            runs[name] = {"ok": False, "traceback": traceback.format_exc()}
    return runs


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main(*sys.argv[1:4])
