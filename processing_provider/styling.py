"""Graduated style on `sampler_weight`: light = rarely drawn, dark = often drawn; excluded hatched grey.

The same renderer is applied when the layer loads in QGIS (a post-processor) and stored in
a GeoPackage as the layer's default style (`gpkg_layers.store_default_style`), so a file written
by `qgis_process` opens styled.
"""
import numpy as np
from qgis.core import (
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsGraduatedSymbolRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsRendererRange,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtXml import QDomDocument

WEIGHT_FIELD = "sampler_weight"
STYLE_NAME = "patch_balancer_sampler_weight"
# A perceptual sequential ramp (viridis end points reversed: pale yellow → deep purple).
RAMP_LIGHT, RAMP_DARK = QColor("#fde725"), QColor("#440154")
RAMP_STOPS = "0.25;#5ec962:0.5;#21918c:0.75;#3b528b"


def _ramp() -> QgsGradientColorRamp:
    return QgsGradientColorRamp.create({"color1": RAMP_LIGHT.name(), "color2": RAMP_DARK.name(), "stops": RAMP_STOPS})


def _fill(color: QColor, style: str = "solid", alpha: int = 170) -> QgsFillSymbol:
    return QgsFillSymbol.createSimple(
        {
            "color": f"{color.red()},{color.green()},{color.blue()},{alpha}",
            "style": style,
            "outline_color": "80,80,80,200",
            "outline_width": "0.1",
        }
    )


def weight_breaks(weights: np.ndarray, classes: int = 5) -> list[float]:
    """Quantile class limits of the included (positive) weights, duplicates removed."""
    positive = np.sort(weights[weights > 0])
    if not len(positive):
        return []
    limits = np.quantile(positive, np.linspace(0, 1, classes + 1))
    return sorted(set(float(v) for v in limits))


def sampler_weight_renderer(weights: np.ndarray) -> QgsGraduatedSymbolRenderer:
    """Ranges: [0, 0] excluded (grey hatched), then quantile classes of the included weights."""
    ranges = [QgsRendererRange(0.0, 0.0, _fill(QColor(150, 150, 150), "b_diagonal", 200), "Excluded (weight 0)")]
    limits = weight_breaks(np.asarray(weights, dtype=float))
    ramp = _ramp()
    bounds = [(limits[0], limits[0])] if len(limits) == 1 else list(zip(limits[:-1], limits[1:]))
    for i, (low, high) in enumerate(bounds):
        color = ramp.color(i / max(len(bounds) - 1, 1))
        ranges.append(QgsRendererRange(low, high, _fill(color), f"{low:.3f} – {high:.3f}"))
    renderer = QgsGraduatedSymbolRenderer(WEIGHT_FIELD, ranges)
    renderer.setSourceColorRamp(ramp)
    return renderer


LEGEND_PROPERTY = "patch_balancer/classes"  # class names and colours (JSON)
TARGET_PROPERTY = "patch_balancer/target_shares"  # class_balance's target share per class value (JSON)


def style_layer(layer: QgsVectorLayer, renderer, aliases: dict, properties: dict) -> None:
    """Renderer (when given), class names as field aliases, and the legend (and targets) as custom properties."""
    if renderer is not None:
        layer.setRenderer(renderer.clone())
    for name, alias in aliases.items():
        index = layer.fields().indexOf(name)
        if index >= 0:
            layer.setFieldAlias(index, alias)
    for key, text in properties.items():
        if text:
            layer.setCustomProperty(key, text)


def style_documents(fields, renderer, aliases: dict | None = None, properties: dict | None = None) -> tuple:
    """The style as QGIS stores it in a GeoPackage (QML, SLD), made on a memory layer with the same fields.

    Built without opening the output file: a QgsVectorLayer on the file would keep a pooled
    connection to it (that blocks the final rename on Windows and may write to the file later).
    """
    layer = QgsVectorLayer("Polygon", "patches", "memory")
    layer.dataProvider().addAttributes(fields.toList())
    layer.updateFields()
    style_layer(layer, renderer, aliases or {}, properties or {})
    qml = QDomDocument()
    error = layer.exportNamedStyle(qml)
    sld = QDomDocument()
    layer.exportSldStyle(sld, "")
    del layer
    if error:
        raise ValueError(error)
    return qml.toString(), sld.toString()


# Post-processors waiting for their layer. QgsProcessingAlgorithm.run() executes a copy of the
# algorithm that is gone before QGIS loads the layer, and QGIS keeps only the C++ side of a
# post-processor, so each one (one per run and output) is referenced here until it has run.
_PENDING: set = set()


class PatchLayerStyler(QgsProcessingLayerPostProcessorInterface):
    """Names and styles the output layer once QGIS has loaded it."""

    def __init__(self, renderer, layer_name: str, aliases: dict | None = None, properties: dict | None = None) -> None:
        super().__init__()
        self.renderer, self.layer_name = renderer, layer_name
        self.aliases, self.properties = aliases or {}, properties or {}
        _PENDING.add(self)

    def postProcessLayer(self, layer, context, feedback):
        if isinstance(layer, QgsVectorLayer):
            layer.setName(self.layer_name)
            style_layer(layer, self.renderer, self.aliases, self.properties)
            layer.triggerRepaint()
        _PENDING.discard(self)
