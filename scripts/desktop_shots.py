"""Screenshots of the real QGIS desktop with the plugin: run by `scripts/desktop-screenshots` as
`qgis --code scripts/desktop_shots.py` under a virtual display, with a fresh profile.

It loads the demo outputs (demo_output/: `make demo`), shows the map with its legend, the class
balance dock docked on the right, the Build dialog at QGIS's default size, the Toolbox, a run from
the dialog (layer name, Results Viewer entry), the report, and writes what it saw to report.txt:
sizes, names, and every message of QGIS's log. Everything goes to $PB_SHOTS (test_output/desktop).
"""
import os
import traceback
from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import QSize, QTimer, QUrl
from qgis.PyQt.QtWidgets import QAbstractItemView, QApplication, QDockWidget, QScrollArea, QTreeView
from qgis.utils import iface, plugins

REPO = Path(os.environ.get("PB_REPO", os.getcwd()))  # run through exec(): no __file__
DEMO = Path(os.environ.get("PB_DEMO", REPO / "demo_output"))
OUT = Path(os.environ.get("PB_SHOTS", REPO / "test_output" / "desktop"))
OUT.mkdir(parents=True, exist_ok=True)
NOTES = []
LOG = []


def note(text):
    NOTES.append(str(text))
    (OUT / "report.txt").write_text("\n".join(NOTES + ["", "QGIS log:"] + LOG) + "\n", encoding="utf-8")


def on_log(message, tag, level):
    LOG.append(f"[{tag}] {Qgis.MessageLevel(level) if hasattr(Qgis, 'MessageLevel') else level}: {message}")


QgsApplication.messageLog().messageReceived.connect(on_log)


def grab(widget, name):
    QApplication.processEvents()
    path = OUT / f"{name}.png"
    ok = widget.grab().save(str(path))
    note(f"{name}: {path} {'written' if ok else 'NOT written'} ({widget.width()}x{widget.height()})")


def step(delay, function):
    """Run the steps one after the other, each `delay` ms after the previous one (QGIS keeps drawing between)."""
    STEPS.append((delay, function))


STEPS = []
STATE = {}


def run_steps(i=0):
    if i >= len(STEPS):
        return
    delay, function = STEPS[i]

    def go():
        try:
            function()
        except Exception:  # noqa: BLE001 - written to the report, the next step still runs
            note(f"step {function.__name__} failed:\n{traceback.format_exc()}")
        run_steps(i + 1)

    QTimer.singleShot(delay, go)


def load_demo():
    window = iface.mainWindow()
    window.showNormal()
    window.resize(1440, 900)
    note(f"QGIS {Qgis.QGIS_VERSION}; plugin loaded: {'patch_balancer' in plugins}; font "
         f"{QApplication.font().family()} {QApplication.font().pointSizeF()} pt; screen "
         f"{QApplication.primaryScreen().size().width()}x{QApplication.primaryScreen().size().height()}")
    raster = QgsRasterLayer(str(DEMO / "demo_image.tif"), "demo_image")
    patches = QgsVectorLayer(str(DEMO / "demo_patches.gpkg"), "demo_patches", "ogr")
    QgsProject.instance().addMapLayer(raster)
    QgsProject.instance().addMapLayer(patches)
    root = QgsProject.instance().layerTreeRoot()  # the patches above the imagery
    node = root.findLayer(patches.id())
    root.insertChildNode(0, node.clone())
    root.removeChildNode(node)
    patches = QgsProject.instance().mapLayer(patches.id())
    STATE["patches"] = patches
    iface.setActiveLayer(patches)
    iface.mapCanvas().setExtent(raster.extent())
    iface.mapCanvas().refresh()
    renderer = patches.renderer()
    note(f"patch layer renderer: {renderer.type()}, classes: "
         + "; ".join(r.label() for r in renderer.ranges()) if hasattr(renderer, "ranges") else renderer.type())


def show_dock():
    plugin = plugins["patch_balancer"]
    plugin.dock_action.trigger()
    dock = plugin.dock
    STATE["dock"] = dock
    docks = [d.windowTitle() for d in iface.mainWindow().findChildren(QDockWidget) if d.isVisible()]
    note(f"visible docks: {docks}")


def shot_main_window():
    grab(iface.mainWindow(), "desktop_main_window")
    grab(iface.mapCanvas(), "desktop_map_canvas")


def shot_dock():
    dock = STATE["dock"]
    note(f"dock: {dock.width()}x{dock.height()}, floating={dock.isFloating()}, layer="
         f"{dock.layer.name() if dock.layer else None}, rows={dock.table.rowCount()}, header={dock.header.text()!r}")
    grab(dock, "desktop_dock_docked")
    dock.setFloating(True)
    dock.resize(360, 350)
    STATE["dock_floating"] = True


def shot_dock_short():
    dock = STATE["dock"]
    table = dock.table
    hidden = [r for r in range(table.rowCount())
              if not table.viewport().rect().contains(table.visualRect(table.model().index(r, 0)))]
    note(f"dock at {dock.width()}x{dock.height()}: rows not fully shown: {hidden}; chart viewport "
         f"{dock.chart_area.viewport().height()} px of {dock.chart.minimumHeight()} px")
    grab(dock, "desktop_dock_350px")
    dock.resize(520, 600)


def shot_dock_tall():
    grab(STATE["dock"], "desktop_dock_tall")
    STATE["dock"].setFloating(False)


def raster_click_keeps_dock():
    dock = STATE["dock"]
    raster = QgsProject.instance().mapLayersByName("demo_image")[0]
    iface.setActiveLayer(raster)
    QApplication.processEvents()
    note(f"after a click on the raster the dock shows: {dock.layer.name() if dock.layer else None} "
         f"(page {dock.pages.currentIndex()})")
    iface.setActiveLayer(STATE["patches"])


def open_build_dialog():
    import processing

    dialog = processing.createAlgorithmDialog("patchbalancer:buildbalanceddataset")
    dialog.show()
    STATE["dialog"] = dialog


def shot_build_dialog():
    dialog = STATE["dialog"]
    scroll = dialog.mainWidget().findChild(QScrollArea)
    note(f"Build dialog: {dialog.width()}x{dialog.height()}, parameters panel {scroll.viewport().width()} px, "
         f"widest parameter {scroll.widget().minimumSizeHint().width()} px, horizontal scroll bar visible: "
         f"{scroll.horizontalScrollBar().isVisible()}")
    grab(dialog, "desktop_build_dialog")
    for name in ("computeclasscomposition", "computesamplerweights", "createpatchgrid", "computevisualuniqueness"):
        import processing

        other = processing.createAlgorithmDialog(f"patchbalancer:{name}")
        other.show()
        QApplication.processEvents()
        panel = other.mainWidget().findChild(QScrollArea)
        note(f"{name} dialog: {other.width()}x{other.height()}, panel {panel.viewport().width()} px, widest "
             f"{panel.widget().minimumSizeHint().width()} px")
        grab(other, f"desktop_dialog_{name}")
        other.close()


def run_from_dialog():
    """Fill the Build dialog and press Run, as an analyst does (temporary layer, report in a file)."""
    dialog = STATE["dialog"]
    dialog.close()
    import processing

    report = OUT / "dialog_run_report.html"
    params = {"IMAGE": [str(DEMO / "demo_image.tif")], "MASK": [str(DEMO / "demo_mask.tif")], "PATCH_SIZE": 256,
              "CLASS_MAP": str(DEMO / "demo_classes.csv"), "REPORT": str(report), "OUTPUT": "TEMPORARY_OUTPUT"}
    run = processing.createAlgorithmDialog("patchbalancer:buildbalanceddataset", params)
    run.show()
    STATE["run_dialog"] = run
    run.runAlgorithm()


def after_run():
    from processing.core.ProcessingResults import resultsList

    names = [layer.name() for layer in QgsProject.instance().mapLayers().values()]
    note(f"layers after a dialog run: {names}")
    note(f"Results Viewer entries: {[r.name for r in resultsList.getResults()]}")
    grab(STATE["run_dialog"], "desktop_run_dialog_log")
    STATE["run_dialog"].close()
    results = [d for d in iface.mainWindow().findChildren(QDockWidget) if d.objectName() == "ResultsDock"]
    if results:
        results[0].show()
        results[0].raise_()


def shot_toolbox():
    toolbox = [d for d in iface.mainWindow().findChildren(QDockWidget) if d.objectName() == "ProcessingToolbox"]
    if not toolbox:
        note("no Processing Toolbox dock found")
        return
    dock = toolbox[0]
    dock.show()
    dock.raise_()
    tree = dock.findChild(QTreeView)
    model = tree.model()
    for row in range(model.rowCount()):
        index = model.index(row, 0)
        if "Patch Balancer" in str(model.data(index)):
            tree.expand(index)
            for sub in range(model.rowCount(index)):
                tree.expand(model.index(sub, 0, index))
            tree.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
    dock.setFloating(True)
    dock.resize(320, 330)
    QApplication.processEvents()
    grab(dock, "desktop_toolbox")
    dock.setFloating(False)


def shot_results_and_map():
    grab(iface.mainWindow(), "desktop_main_window_after_run")


def shot_report():
    from qgis.PyQt.QtWebKitWidgets import QWebView

    view = QWebView()
    view.resize(QSize(900, 1100))
    view.load(QUrl.fromLocalFile(str(DEMO / "demo_report.html")))
    STATE["web"] = view
    view.show()


def shot_report_done():
    view = STATE["web"]
    frame = view.page().mainFrame()
    size = frame.contentsSize()
    view.resize(QSize(900, min(size.height(), 2400)))
    QApplication.processEvents()
    grab(view, "desktop_report")
    view.close()


def finish():
    note("done")
    QgsProject.instance().setDirty(False)
    os._exit(0)  # no "save the project?" question


step(1500, load_demo)
step(2500, show_dock)
step(2500, shot_main_window)
step(500, shot_dock)
step(1500, shot_dock_short)
step(1500, shot_dock_tall)
step(500, raster_click_keeps_dock)
step(500, open_build_dialog)
step(1500, shot_build_dialog)
step(500, shot_toolbox)
step(500, run_from_dialog)
step(15000, after_run)
step(2000, shot_results_and_map)
step(500, shot_report)
step(3000, shot_report_done)
step(500, finish)
run_steps()
