"""The class balance dock as an analyst meets it in QGIS: docked short under the Toolbox (~350 px), pinned to a
layer while clicking through others, with counts and figures that say only what is meant (real QGIS, offscreen)."""
import os
from pathlib import Path

import pytest
from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import QPoint, QRect
from qgis.PyQt.QtWidgets import QApplication

from tests.qgis.qt_helpers import wait_for

REPO = Path(__file__).resolve().parents[2]
TEST_OUTPUT = Path(os.environ.get("PATCH_BALANCER_TEST_OUTPUT", REPO / "test_output"))


def refreshed(dock):
    return lambda: not dock._timer.isActive() and dock.balance is not None


@pytest.fixture
def demo_in_dock(plugin, host_iface, demo_output):
    project = QgsProject.instance()
    layer = QgsVectorLayer(demo_output["gpkg"], "demo_patches", "ogr")
    project.addMapLayer(layer)
    host_iface.setActiveLayer(layer)
    dock = plugin.dock
    dock.pin_button.setChecked(False)
    dock.selected_only.setChecked(False)
    plugin.dock_action.trigger()
    assert wait_for(lambda: dock.layer is layer and refreshed(dock)())
    yield dock, layer
    dock.pin_button.setChecked(False)
    dock.setFloating(False)
    dock.close()
    project.removeAllMapLayers()


def visible_in(widget, ancestor) -> QRect:
    """The part of `widget` that shows inside `ancestor`, in ancestor coordinates."""
    rect = QRect(widget.mapTo(ancestor, QPoint(0, 0)), widget.size())
    return rect.intersected(ancestor.rect())


def test_a_short_dock_shows_every_class_row_of_the_demo(demo_in_dock):
    dock, _ = demo_in_dock
    dock.setFloating(True)
    dock.resize(340, 350)
    QApplication.processEvents()
    dock._fit_table()
    QApplication.processEvents()
    table = dock.table
    assert table.rowCount() == 4  # field, road, building, pond
    shown = visible_in(table.viewport(), dock)
    for row in range(table.rowCount()):
        cell = table.visualRect(table.model().index(row, 0))
        cell.moveTopLeft(table.viewport().mapTo(dock, cell.topLeft()))
        assert shown.contains(cell), (row, cell, shown)  # the whole row, not clipped
    assert not table.verticalScrollBar().isVisible()
    # the table fills the width; the chart keeps a visible share and scrolls for the rest
    assert table.width() >= dock.widget().width() - 20
    chart_view = visible_in(dock.chart_area.viewport(), dock)
    assert chart_view.height() >= 40
    assert dock.chart.minimumHeight() > dock.chart_area.viewport().height()  # it scrolls, it is not squashed
    assert dock.chart_area.verticalScrollBar().maximum() > 0
    TEST_OUTPUT.mkdir(parents=True, exist_ok=True)
    assert dock.grab().save(str(TEST_OUTPUT / "dock_350px.png"))


def test_counts_are_said_once(demo_in_dock):
    dock, layer = demo_in_dock
    layer.selectByIds([f.id() for f in layer.getFeatures()][:30])
    assert wait_for(refreshed(dock))
    text = dock.header.text()
    assert "400 patches, 376 drawable, 30 selected" in text
    dock.selected_only.setChecked(True)
    assert wait_for(lambda: refreshed(dock)() and dock.balance.n_patches == 30)
    text = dock.header.text()
    assert "30 selected patches" in text and text.count("30") == 1 and ", 30 selected" not in text


def test_nothing_drawable_shows_a_dash_not_zero(demo_in_dock):
    dock, layer = demo_in_dock
    excluded = [f.id() for f in layer.getFeatures() if f["excluded"]]
    assert excluded
    layer.selectByIds(excluded)
    dock.selected_only.setChecked(True)
    assert wait_for(lambda: refreshed(dock)() and dock.balance.n_patches == len(excluded))
    assert dock.balance.n_drawable == 0
    assert dock.figures["ess"].text() == "–" and dock.figures["oversampling"].text() == "–"
    assert "0.00" not in dock.figures["oversampling"].text()


def test_the_pin_keeps_the_dock_on_its_layer(demo_in_dock, host_iface, data_dir, processing_run):
    dock, layer = demo_in_dock
    raster = QgsRasterLayer(str(data_dir / "lyon/image_rgb.tif"), "imagery")
    QgsProject.instance().addMapLayer(raster)
    host_iface.setActiveLayer(raster)  # a click on the imagery below the patches: the dock stays on them
    QApplication.processEvents()
    assert dock.layer is layer and dock.pages.currentIndex() == 1
    dock.pin_button.setChecked(True)
    other = processing_run("patchbalancer:computeclasscomposition", {
        "INPUT": processing_run("patchbalancer:createpatchgrid", {
            "IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"),
            "PATCH_SIZE": 128, "OUTPUT": "TEMPORARY_OUTPUT"})["OUTPUT"], "OUTPUT": "TEMPORARY_OUTPUT"})["OUTPUT"]
    QgsProject.instance().addMapLayer(other)  # a new patch layer: pinned, the dock does not switch
    host_iface.setActiveLayer(other)
    QApplication.processEvents()
    assert dock.layer is layer
    dock.pin_button.setChecked(False)  # unpinned, it follows the active patch layer again
    host_iface.setActiveLayer(layer)
    host_iface.setActiveLayer(other)
    assert wait_for(lambda: dock.layer is other)

