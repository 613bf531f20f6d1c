"""The class balance dock in real QGIS (offscreen): made by the plugin's initGui, bound to layers the
build algorithm wrote, following selection, edits and re-runs; its figures checked by hand."""
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qgis.core import QgsMapLayerType, QgsProject, QgsRasterLayer, QgsVectorLayer

from tests.qgis.qt_helpers import wait_for
from qgis.PyQt.QtGui import QColor, QGuiApplication, QImage, QPalette
from qgis.PyQt.QtWidgets import QDockWidget

REPO = Path(__file__).resolve().parents[2]
TEST_OUTPUT = Path(os.environ.get("PATCH_BALANCER_TEST_OUTPUT", REPO / "test_output"))
CLASS_MAP = "value,name,colour\n0,background,#d9d9d9\n1,building,#e31a1c\n2,park,#33a02c\n"




def refreshed(dock):
    return lambda: not dock._timer.isActive() and dock.balance is not None


def hand_balance(layer, fids=None):
    """Raw and weighted shares, patches per class, ESS, from the layer's features, by hand."""
    feats = [f for f in layer.getFeatures() if fids is None or f.id() in fids]
    classes = sorted(int(n[2:]) for n in layer.fields().names() if n.startswith("c_"))
    labelled = np.array([f["patch_size"] ** 2 * (1 - f["nodata_ratio"]) for f in feats])
    counts = np.array([[f[f"c_{c}"] for c in classes] for f in feats]) * labelled[:, None]
    w = np.array([0.0 if f["excluded"] else f["sampler_weight"] for f in feats])
    return {"raw": counts.sum(0) / counts.sum(), "weighted": w @ counts / (w @ counts).sum(),
            "patches": (counts > 0).sum(0), "ess": w.sum() ** 2 / (w ** 2).sum(), "n": len(feats),
            "drawable": int((w > 0).sum())}


@pytest.fixture(scope="module")
def built(processing_run, data_dir, tmp_path_factory):
    """The Lyon scene through 'Build balanced dataset', with class names and colours from a class map."""
    folder = tmp_path_factory.mktemp("dock")
    (folder / "classes.csv").write_text(CLASS_MAP)
    return processing_run("patchbalancer:buildbalanceddataset", {
        "IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"), "PATCH_SIZE": 64,
        "CLASS_MAP": str(folder / "classes.csv"), "MAX_OVERSAMPLING": 5.0, "OUTPUT": str(folder / "lyon.gpkg")})


@pytest.fixture
def shown(plugin, host_iface, built):
    """The built layer added to the project (so the dock takes it) and the dock opened from its action."""
    project = QgsProject.instance()
    layer = QgsVectorLayer(built["OUTPUT"], "Lyon patches", "ogr")
    project.addMapLayer(layer)
    host_iface.setActiveLayer(layer)
    plugin.dock_action.trigger()
    dock = plugin.dock
    dock.selected_only.setChecked(False)
    assert wait_for(refreshed(dock))
    yield plugin, layer
    plugin.dock.close()
    if layer.isEditable():
        layer.rollBack()
    project.removeAllMapLayers()  # deletes the layer (the dock lets go of it first)
    assert plugin.dock.layer is None


def test_init_gui_adds_the_dock_and_its_entries(plugin, host_iface):
    window = host_iface.mainWindow()
    docks = window.findChildren(QDockWidget, "PatchBalancerClassBalanceDock")
    assert docks == [plugin.dock]
    assert host_iface.menus["&Patch Balancer"][0] is plugin.dock_action
    assert plugin.dock_action in host_iface.toolbar_actions
    assert (plugin.layer_action, QgsMapLayerType.VectorLayer, False) in host_iface.layer_type_actions
    assert not plugin.dock_action.isCheckable()  # the entry shows the dock, it never hides it
    plugin.dock_action.trigger()
    assert not plugin.dock.isHidden()
    plugin.dock_action.trigger()  # chosen again (e.g. on a dock QGIS restored open): it stays open
    assert not plugin.dock.isHidden()
    plugin.dock.close()
    assert plugin.dock.isHidden()


def test_table_shows_the_built_layer_by_hand(shown, built):
    plugin, layer = shown
    dock = plugin.dock
    assert dock.layer is layer and dock.pages.currentIndex() == 1
    assert layer.id() in plugin.iface.layer_actions  # "Show Class Balance" in its context menu
    hand = hand_balance(layer)
    b = dock.balance
    np.testing.assert_allclose(b.raw_share, hand["raw"], rtol=1e-9)
    np.testing.assert_allclose(b.weighted_share, hand["weighted"], rtol=1e-9)
    assert b.patches_with_class.tolist() == hand["patches"].tolist()
    assert b.n_patches == hand["n"] == 144
    # The same figures the build algorithm reported from its own (engine) table.
    assert b.effective_sample_size == pytest.approx(built["EFFECTIVE_SAMPLE_SIZE"], rel=1e-9)
    assert b.max_oversampling == pytest.approx(built["MAX_OVERSAMPLING"], rel=1e-9) and b.max_oversampling <= 5 + 1e-9
    table = dock.table
    cells = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
    assert [row[0] for row in cells] == ["background", "building", "park"]
    for row, raw, weighted, patches in zip(cells, hand["raw"], hand["weighted"], hand["patches"]):
        assert row[1] == f"{raw:.2%}".replace("%", " %") and row[3] == f"{weighted:.2%}".replace("%", " %")
        assert row[4] == str(patches)
    assert dock.targets and [row[2] for row in cells] == [f"{dock.targets[v]:.2%}".replace("%", " %") for v in (0, 1, 2)]
    assert dock.figures["ess"].text().startswith(f"{hand['ess']:,.1f} of {hand['drawable']}")
    assert [e.colour for e in dock.chart.entries] == ["#d9d9d9", "#e31a1c", "#33a02c"]
    # The screenshot for the README and the test output folder.
    TEST_OUTPUT.mkdir(parents=True, exist_ok=True)
    dock.resize(460, 620)
    shot = TEST_OUTPUT / "class_balance_dock.png"
    assert dock.grab().save(str(shot))
    image = QImage(str(shot))
    assert image.width() >= 400 and len({image.pixel(x, y) for x in range(0, image.width(), 7)
                                         for y in range(0, image.height(), 7)}) > 20


def test_selection_switch_and_following_the_selection(shown):
    plugin, layer = shown
    dock = plugin.dock
    parks = [f.id() for f in layer.getFeatures("c_2 > 0")]
    layer.selectByIds(parks[:5])
    assert wait_for(refreshed(dock))
    assert dock.balance.n_patches == 144  # the switch is off: all patches count
    assert "5 selected" in dock.header.text()
    dock.selected_only.setChecked(True)
    assert wait_for(lambda: refreshed(dock)() and dock.balance.n_patches == 5)
    hand = hand_balance(layer, set(parks[:5]))
    np.testing.assert_allclose(dock.balance.raw_share, hand["raw"], rtol=1e-9)
    np.testing.assert_allclose(dock.balance.weighted_share, hand["weighted"], rtol=1e-9)
    layer.selectByIds(parks)  # no click: the dock follows the new selection
    assert wait_for(lambda: dock.balance.n_patches == len(parks))
    layer.removeSelection()
    assert wait_for(lambda: dock.balance.n_patches == 0)
    assert "No patch is selected" in dock.header.text()


def test_a_burst_of_changes_costs_one_recomputation(shown, monkeypatch):
    plugin, layer = shown
    dock = plugin.dock
    from patch_balancer.ui.patch_columns import PatchColumns

    calls = []
    original = PatchColumns.balance
    monkeypatch.setattr(PatchColumns, "balance", lambda self, rows=None: calls.append(rows) or original(self, rows))
    ids = [f.id() for f in layer.getFeatures()]
    for n in range(1, 31):  # a selection box dragged over the map
        layer.selectByIds(ids[:n])
    assert wait_for(lambda: "30 selected" in dock.header.text())
    assert len(calls) == 1
    plugin.dock.close()  # a closed dock does no work
    layer.selectByIds(ids[:3])
    assert not wait_for(lambda: len(calls) > 1, timeout=0.5)
    plugin.dock_action.trigger()  # and catches up when opened again
    assert wait_for(lambda: "3 selected" in dock.header.text()) and len(calls) == 2


def test_edits_and_rollback_update_the_numbers(shown):
    plugin, layer = shown
    dock = plugin.dock
    before = dock.balance
    heaviest = max(layer.getFeatures(), key=lambda f: f["sampler_weight"])
    layer.startEditing()
    layer.changeAttributeValue(heaviest.id(), layer.fields().indexOf("excluded"), 1)
    assert wait_for(lambda: dock.balance.n_drawable == before.n_drawable - 1)
    hand = hand_balance(layer)  # reads through the edit buffer
    np.testing.assert_allclose(dock.balance.weighted_share, hand["weighted"], rtol=1e-9)
    assert not np.allclose(dock.balance.weighted_share, before.weighted_share)
    layer.deleteFeature(next(layer.getFeatures("c_2 > 0")).id())
    assert wait_for(lambda: dock.balance.n_patches == 143)
    layer.rollBack()
    assert wait_for(lambda: dock.balance.n_patches == 144 and dock.balance.n_drawable == before.n_drawable)
    np.testing.assert_allclose(dock.balance.weighted_share, before.weighted_share, rtol=1e-12)


def test_saved_edits_and_a_reload_from_disk_update_the_numbers(shown, built, tmp_path):
    plugin, layer = shown
    dock = plugin.dock
    before = dock.balance.n_drawable
    heaviest = max(layer.getFeatures(), key=lambda f: f["sampler_weight"])
    excluded = layer.fields().indexOf("excluded")
    layer.startEditing()
    layer.changeAttributeValue(heaviest.id(), excluded, 1)
    assert layer.commitChanges()
    assert wait_for(lambda: refreshed(dock)() and dock.balance.n_drawable == before - 1)
    np.testing.assert_allclose(dock.balance.weighted_share, hand_balance(layer)["weighted"], rtol=1e-9)
    # Another program (or QGIS's provider directly) changes the file; a reload shows it.
    assert layer.dataProvider().changeAttributeValues({heaviest.id(): {excluded: 0}})
    layer.reload()
    assert wait_for(lambda: refreshed(dock)() and dock.balance.n_drawable == before)


def test_a_rerun_of_the_weights_takes_over_the_dock(shown, processing_run):
    plugin, layer = shown
    dock = plugin.dock
    before = dock.balance.weighted_share.copy()
    rerun = processing_run("patchbalancer:computesamplerweights", {
        "INPUT": layer, "MAX_OVERSAMPLING": 1.5, "OUTPUT": "TEMPORARY_OUTPUT"})  # a tighter cap
    QgsProject.instance().addMapLayer(rerun["OUTPUT"])
    assert wait_for(lambda: dock.layer is rerun["OUTPUT"] and refreshed(dock)())
    hand = hand_balance(rerun["OUTPUT"])
    np.testing.assert_allclose(dock.balance.weighted_share, hand["weighted"], rtol=1e-9)
    assert not np.allclose(dock.balance.weighted_share, before)
    assert [dock.table.item(r, 0).text() for r in range(3)] == ["background", "building", "park"]


def test_copy_as_csv_and_export_png(shown, tmp_path):
    plugin, _ = shown
    dock = plugin.dock
    dock.copy_csv()
    rows = list(csv.DictReader(io.StringIO(QGuiApplication.clipboard().text())))
    assert [r["name"] for r in rows] == ["background", "building", "park"]
    assert [float(r["raw_share"]) for r in rows] == dock.balance.raw_share.tolist()
    assert [int(r["patches_with_class"]) for r in rows] == dock.balance.patches_with_class.tolist()
    path = tmp_path / "chart.png"
    assert dock.export_png(str(path))
    image = QImage(str(path))
    assert not image.isNull() and image.width() >= 2 * 300


def test_layers_that_are_not_patch_layers_are_explained(plugin, host_iface, data_dir):
    dock = plugin.dock
    raster = QgsRasterLayer(str(data_dir / "lyon/labels.tif"), "labels")
    roads = QgsVectorLayer("LineString?crs=EPSG:3946&field=name:string", "roads", "memory")
    QgsProject.instance().addMapLayers([raster, roads])
    try:
        assert dock.layer is None  # neither takes the dock over when added
        host_iface.setActiveLayer(raster)
        assert dock.pages.currentIndex() == 0 and "“labels” is a raster" in dock.message.text()
        host_iface.setActiveLayer(roads)
        assert "“roads” is not a patch layer: it has no c_<class> fraction fields" in dock.message.text()
        assert roads.id() not in host_iface.layer_actions
    finally:
        QgsProject.instance().removeAllMapLayers()


def test_a_layer_without_weights_yet_is_shown_as_uniform_sampling(plugin, host_iface, processing_run, data_dir):
    grid = processing_run("patchbalancer:createpatchgrid", {
        "IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"), "PATCH_SIZE": 128,
        "OUTPUT": "TEMPORARY_OUTPUT"})
    composition = processing_run("patchbalancer:computeclasscomposition", {
        "INPUT": grid["OUTPUT"], "OUTPUT": "TEMPORARY_OUTPUT"})["OUTPUT"]
    composition.setName("no <weights> yet")
    QgsProject.instance().addMapLayer(composition)
    plugin.dock_action.trigger()
    dock = plugin.dock
    try:
        assert wait_for(lambda: dock.layer is composition and refreshed(dock)())
        assert "No <i>sampler_weight</i> field yet" in dock.header.text()
        assert "no &lt;weights&gt; yet" in dock.header.text()
        b = dock.balance
        assert b.n_patches == 36 and b.n_drawable == 36 and b.effective_sample_size == pytest.approx(36)
        np.testing.assert_allclose(b.weighted_share, b.raw_share, rtol=1e-12)
    finally:
        plugin.dock.close()
        QgsProject.instance().removeAllMapLayers()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_chart_is_readable_in_light_and_dark_themes(plugin, theme):
    from patch_balancer.ui.balance_chart import BalanceChart, ChartEntry

    chart = BalanceChart()
    palette = QPalette()
    background, text = (QColor("#ffffff"), QColor("#000000")) if theme == "light" else (QColor("#232323"), QColor("#f0f0f0"))
    palette.setColor(QPalette.Window, background)
    palette.setColor(QPalette.WindowText, text)
    chart.setPalette(palette)
    chart.set_entries([ChartEntry("background", "#d9d9d9", 0.9, 0.6), ChartEntry("rare", "#e31a1c", 0.01, 0.2)])
    image = chart.to_image(scale=1.0)
    pixels = [QColor(image.pixel(x, y)) for x in range(image.width()) for y in range(image.height())]
    counts = {}
    for p in pixels:
        counts[p.name()] = counts.get(p.name(), 0) + 1
    assert max(counts, key=counts.get) == background.name()  # the background follows the theme
    # text in the theme's text colour, and the rare class's solid bar in its colour
    assert sum(1 for p in pixels if abs(p.lightness() - text.lightness()) < 40) > 100
    assert counts.get("#e31a1c", 0) > 50


def test_plugin_loads_and_unloads_cleanly(tmp_path):
    """initGui → unload twice in a fresh QGIS (as the Plugin Reloader does): dock, actions, provider gone."""
    script = REPO / "tests" / "qgis" / "plugin_lifecycle.py"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("clean unload x2")


def test_bars_turn_logarithmic_when_shares_span_decades(plugin):
    from patch_balancer.ui.balance_chart import share_axis

    linear = share_axis([0.6, 0.4, 0.05])
    assert not linear.log and linear.position(0.3) == pytest.approx(0.5) and linear.position(0.0) == 0.0
    log = share_axis([0.9903, 0.0061, 0.0010, 0.0021])  # the demo: 99 % field, 0.1 % pond
    assert log.log and log.ticks() == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert log.position(0.001) == pytest.approx(0.25) and log.position(0.0021) > log.position(0.001) + 0.05
    assert log.position(0.0) == 0.0 and log.position(1.0) == pytest.approx(1.0)
