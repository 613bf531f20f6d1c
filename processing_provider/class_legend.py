"""Class names and colours from QGIS: a mask layer's style, a patch layer's stored legend.

Merged with the engine's sources (the masks' own attribute/colour tables, a class-map file);
later sources win: mask files → input patch layer → mask layer style → class-map file.
"""
import json

from qgis.core import (
    QgsPalettedRasterRenderer,
    QgsProcessingException,
    QgsSingleBandPseudoColorRenderer,
    QgsVectorLayer,
)

from ..balance_core.errors import BalanceError
from ..balance_core.legend import ClassInfo, Legend, legend_from_json, legend_from_raster, read_class_map
from ..balance_core.patch_records import class_value
from .styling import LEGEND_PROPERTY, TARGET_PROPERTY

MAX_MASK_FILES = 20  # mask files read for names; tiles of one dataset share their legend


def renderer_legend(layer) -> Legend:
    """Classes of a paletted or exact/discrete pseudocolour ("unique values") raster style."""
    renderer = layer.renderer() if layer is not None else None
    items = []
    if isinstance(renderer, QgsPalettedRasterRenderer):
        items = [(int(c.value), c.label, c.color) for c in renderer.classes()]
    elif isinstance(renderer, QgsSingleBandPseudoColorRenderer):
        shader = renderer.shader().rasterShaderFunction() if renderer.shader() else None
        if shader is not None and shader.colorRampType() == shader.Exact:
            items = [(int(i.value), i.label, i.color) for i in shader.colorRampItemList()]
    return {v: ClassInfo(v, label or str(v), color.name()) for v, label, color in items}


def stored_property(layer, key: str) -> str:
    """A custom property a step wrote with its patch layer: on the layer, else in its default style."""
    if not isinstance(layer, QgsVectorLayer):
        return ""
    text = layer.customProperty(key)
    if not text and layer.source():
        styled = QgsVectorLayer(layer.source(), "legend", layer.providerType())  # loads the default style
        text = styled.customProperty(key) if styled.isValid() else None
    return text or ""


def stored_legend(layer) -> Legend:
    """The legend a step wrote with its patch layer: on the layer, else in its default style, else aliases."""
    if not isinstance(layer, QgsVectorLayer):
        return {}
    text = stored_property(layer, LEGEND_PROPERTY)
    legend = legend_from_json(text) if text else {}
    if not legend:
        for field in layer.fields():
            value = class_value(field.name())
            if value is not None and field.alias():
                legend[value] = ClassInfo(value, field.alias())
    return legend


def stored_targets(layer) -> dict:
    """class_balance's target share per class value, as the weights step stored it ({} when none or unreadable)."""
    text = stored_property(layer, TARGET_PROPERTY)
    try:
        shares = {int(k): float(v) for k, v in json.loads(text).items()} if text else {}
    except (ValueError, TypeError, AttributeError):
        return {}
    return {k: v for k, v in shares.items() if 0 <= v <= 1}


def resolve_legend(class_map: str = "", mask_layers=(), patch_layer=None, mask_paths=(), warn=None) -> Legend:
    legend: Legend = {}
    for path in list(dict.fromkeys(mask_paths))[:MAX_MASK_FILES]:
        for value, info in legend_from_raster(path).items():
            legend.setdefault(value, info)
    legend.update(stored_legend(patch_layer))
    for layer in mask_layers:
        legend.update(renderer_legend(layer))
    if class_map:
        legend.update(read_class_map(class_map, warn))
    return legend


def legend_or_error(alg, parameters, context, feedback=None, **sources) -> Legend:
    path = alg.parameterAsFile(parameters, "CLASS_MAP", context) if alg.parameterDefinition("CLASS_MAP") else ""
    try:
        return resolve_legend(path, warn=feedback.pushWarning if feedback is not None else None, **sources)
    except BalanceError as exc:
        raise QgsProcessingException(str(exc)) from exc
