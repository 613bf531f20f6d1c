"""Layer names, class names and read errors reach the dock's labels as text, never as Qt rich text."""
import json

from qgis.core import QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import Qt

from tests.qgis.qt_helpers import wait_for

MARKUP = "<b>roads</b><img src='file:///etc/passwd'>"




def shows_as_text(label, text):
    """`text` is what the label displays: either plain text, or rich text that escapes it."""
    if label.textFormat() == Qt.TextFormat.PlainText:
        return text in label.text()
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#x27;") in label.text()


def test_a_layer_name_with_markup_is_shown_as_text_in_the_message(plugin, host_iface):
    dock = plugin.dock
    plugin.dock_action.trigger()
    roads = QgsVectorLayer("LineString?crs=EPSG:3946&field=name:string", MARKUP, "memory")
    QgsProject.instance().addMapLayer(roads)
    try:
        host_iface.setActiveLayer(roads)
        assert dock.pages.currentIndex() == 0 and MARKUP in dock.message.text()
        assert dock.message.textFormat() == Qt.TextFormat.PlainText  # AutoText would render the <b> and the <img>
    finally:
        plugin.dock.close()
        QgsProject.instance().removeAllMapLayers()


def test_a_patch_layer_and_class_names_with_markup_stay_text(plugin, host_iface, processing_run, data_dir, tmp_path):
    from patch_balancer.processing_provider.styling import LEGEND_PROPERTY

    built = processing_run("patchbalancer:buildbalanceddataset", {
        "IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"), "PATCH_SIZE": 128,
        "OUTPUT": str(tmp_path / "p.gpkg")})
    layer = QgsVectorLayer(built["OUTPUT"], MARKUP, "ogr")
    layer.setCustomProperty(LEGEND_PROPERTY, json.dumps([
        {"value": 1, "name": "<i>building</i>", "colour": "<script>"}]))
    QgsProject.instance().addMapLayer(layer)
    dock = plugin.dock
    plugin.dock_action.trigger()
    try:
        host_iface.setActiveLayer(layer)
        assert wait_for(lambda: dock.balance is not None and not dock._timer.isActive())
        assert dock.pages.currentIndex() == 1
        assert shows_as_text(dock.header, MARKUP)
        names = [dock.table.item(r, 0).text() for r in range(dock.table.rowCount())]
        assert "<i>building</i>" in names  # a table cell is plain text
        for label in dock.figures.values():
            assert label.textFormat() == Qt.TextFormat.PlainText
    finally:
        plugin.dock.close()
        QgsProject.instance().removeAllMapLayers()
