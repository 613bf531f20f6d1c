"""Graduated style on `sampler_weight`: light = rarely drawn, dark = often drawn; excluded hatched.

A weight is the patch's expected number of draws per epoch (weights have mean 1), so the classes are
read as "draws per epoch": one class per distinct weight level when there are few (class_balance often
gives a handful: pure background at a low level, rare classes at the cap), else breaks on the 1-2-5
ladder of draws per epoch (0.1, 0.2, 0.5, 1, 2, 5 …), refined between distinct levels where the
ladder leaves too few classes. Ties never merge classes (quantiles of the patches did: one large
cluster of equal weights ate most classes). Fills are opaque, so what is drawn matches the legend
whatever lies underneath; excluded patches are a dark hatch over a light veil, visible over imagery.

The same renderer is applied when the layer loads in QGIS (a post-processor) and stored in
a GeoPackage as the layer's default style (`gpkg_layers.store_default_style`), so a file written
by `qgis_process` opens styled.
"""
from __future__ import annotations

import heapq
import math

import numpy as np
from qgis.core import (
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsGraduatedSymbolRenderer,
    QgsLinePatternFillSymbolLayer,
    QgsProcessingLayerPostProcessorInterface,
    QgsRendererRange,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtXml import QDomDocument

from .output_names import output_layer_name

WEIGHT_FIELD = "sampler_weight"
STYLE_NAME = "patch_balancer_sampler_weight"
# A perceptual sequential ramp (viridis end points reversed: pale yellow → deep purple).
RAMP_LIGHT, RAMP_DARK = QColor("#fde725"), QColor("#440154")
RAMP_STOPS = "0.25;#5ec962:0.5;#21918c:0.75;#3b528b"
MAX_CLASSES = 7  # classes of drawable patches (the excluded class comes on top)
LEVEL_DIGITS = 3  # weights equal to this many significant digits are one level (as the legend prints them)
EXCLUDED_LABEL = "Excluded: never drawn"
OPEN_END = 1e9  # upper end of the last class: a weight edited by hand above the largest one is still drawn


def _ramp() -> QgsGradientColorRamp:
    return QgsGradientColorRamp.create({"color1": RAMP_LIGHT.name(), "color2": RAMP_DARK.name(), "stops": RAMP_STOPS})


def _fill(color: QColor) -> QgsFillSymbol:
    """An opaque fill: the colour on the map is the colour in the legend."""
    return QgsFillSymbol.createSimple(
        {
            "color": f"{color.red()},{color.green()},{color.blue()},255",
            "style": "solid",
            "outline_color": "60,60,60,160",
            "outline_width": "0.1",
        }
    )


def _excluded_fill() -> QgsFillSymbol:
    """A light veil with a dark hatch and a dark outline: stands out over imagery, light or dark, and still
    lets the imagery show through (the reason for the exclusion, e.g. a black collar, stays visible)."""
    symbol = QgsFillSymbol.createSimple({"color": "255,255,255,110", "style": "solid",
                                         "outline_color": "30,30,30,255", "outline_width": "0.3"})
    symbol.appendSymbolLayer(QgsLinePatternFillSymbolLayer.create(
        {"angle": "45", "distance": "1.6", "line_width": "0.35", "color": "30,30,30,255"}))
    return symbol


def _rounded(values: np.ndarray) -> np.ndarray:
    scale = 10.0 ** (LEVEL_DIGITS - 1 - np.floor(np.log10(values)))
    return np.round(values * scale) / scale


def weight_levels(weights: np.ndarray) -> np.ndarray:
    """The distinct weights of drawable patches, to LEVEL_DIGITS significant digits (what the legend shows)."""
    positive = np.asarray(weights, dtype=float)
    positive = positive[np.isfinite(positive) & (positive > 0)]
    return np.unique(_rounded(positive)) if len(positive) else np.zeros(0)


def _level_gaps(values: np.ndarray) -> list:
    """(largest weight of a level, smallest weight of the next level) for each pair of neighbouring levels."""
    _, first = np.unique(_rounded(values), return_index=True)  # values sorted: levels in order
    return [(float(values[i - 1]), float(values[i])) for i in first[1:]]


def _between(low: float, high: float) -> float:
    """The number with the fewest significant digits strictly between low and high (low < high)."""
    for digits in range(1, 16):
        step = 10.0 ** (math.floor(math.log10(high)) - digits + 1)
        candidate = (math.floor(low / step) + 1) * step
        if low < candidate < high:
            return float(f"{candidate:.{digits + 1}g}")
    return (low + high) / 2


def _ladder(low: float, high: float, mantissas) -> list:
    """Values m × 10^k (m in mantissas) strictly between low and high."""
    out = []
    for exponent in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        for m in mantissas:
            value = float(f"{m * 10.0 ** exponent:.6g}")
            if low < value < high:
                out.append(value)
    return out


def weight_breaks(weights: np.ndarray, classes: int = MAX_CLASSES) -> list:
    """Class bounds of the drawable (positive) weights: [(low, high), …] from light to dark.

    Up to `classes` distinct levels: one class per level. More: breaks on the 1-2-5 ladder of draws per
    epoch, then 1-1.5-2-3-5-7, then between distinct levels, each kept only where it splits the patches;
    the least meaningful breaks (then those between the fewest patches) go first until `classes` remain.
    """
    values = np.asarray(weights, dtype=float)
    values = np.sort(values[np.isfinite(values) & (values > 0)])
    levels = weight_levels(values)
    if not len(levels):
        return []
    low, high = float(values[0]), float(values[-1])
    gaps = _level_gaps(values)
    if len(levels) <= classes:
        edges = [low] + [_between(a, b) for a, b in gaps] + [high]
        return list(zip(edges[:-1], edges[1:]))
    candidates = {_between(a, b): 0 for a, b in gaps}  # break → priority (higher = kept longer)
    for value in _ladder(low, high, (1, 1.5, 2, 3, 5, 7)):
        candidates[value] = 1
    for value in _ladder(low, high, (1, 2, 5)):
        candidates[value] = 2
    breaks = sorted(b for b in candidates if low < b < high)
    edges = [low] + _pruned(values, breaks, [candidates[b] for b in breaks], classes) + [high]
    return list(zip(edges[:-1], edges[1:]))


def _pruned(values: np.ndarray, breaks: list, priority: list, classes: int) -> list:
    """The breaks kept, dropped one at a time: first every break above an empty class, then, while `classes` or
    more remain, the one of lowest priority, then between the fewest patches (the first such one on a tie).

    A value on a break belongs to the lower class (QGIS: first match). Class sizes are counted once and merged
    as breaks go (a heap of (priority, patches on both sides, position)), not recounted per break dropped:
    thousands of distinct weight levels made that quadratic (seconds at 155,000 patches).
    """
    if not breaks:
        return []
    ends = np.searchsorted(values, np.asarray(breaks, dtype=float), side="right")
    sizes = np.diff(np.concatenate([[0], ends, [len(values)]]))
    # An empty class can only lie below a break (the largest value lies above every break), and merging it
    # into the class above leaves that one's size: the breaks above empty classes go, all at once.
    keep = np.flatnonzero(sizes[:-1] > 0)
    breaks, priority = [breaks[i] for i in keep.tolist()], [priority[i] for i in keep.tolist()]
    below = sizes[keep].tolist()  # patches between the previous break kept and this one
    above = below[1:] + [int(sizes[-1])]  # patches between this break and the next (the last: the largest value)
    m = len(breaks)
    if m < classes:
        return breaks
    prev, nxt = list(range(-1, m - 1)), list(range(1, m + 1))
    alive = [True] * m
    heap = [(priority[j], below[j] + above[j], j) for j in range(m)]
    heapq.heapify(heap)
    while m and m >= classes:
        _, total, j = heapq.heappop(heap)
        if not alive[j] or total != below[j] + above[j]:
            continue  # dropped already, or its neighbours changed since
        alive[j], merged = False, below[j] + above[j]
        p, q = prev[j], nxt[j]
        if p >= 0:
            nxt[p], above[p] = q, merged
            heapq.heappush(heap, (priority[p], below[p] + merged, p))
        if q < len(breaks):
            prev[q], below[q] = p, merged
            heapq.heappush(heap, (priority[q], merged + above[q], q))
        m -= 1
    return [b for b, a in zip(breaks, alive) if a]


def _number(x: float) -> str:
    return f"{x:.3g}"


def sampler_weight_renderer(weights: np.ndarray) -> QgsGraduatedSymbolRenderer:
    """Ranges: [0, 0] excluded (hatched), then the classes of the drawable weights, labelled in draws per epoch.

    The first class starts at 0 and the last has no upper end, so any positive weight (e.g. one edited by
    hand later) is drawn; the labels give the weights the layer holds.
    """
    weights = np.asarray(weights, dtype=float)
    ranges = [QgsRendererRange(0.0, 0.0, _excluded_fill(), EXCLUDED_LABEL)]
    bounds = weight_breaks(weights)
    levels = weight_levels(weights)
    one_level_each = len(bounds) == len(levels)
    ramp = _ramp()
    for i, (low, high) in enumerate(bounds):
        color = ramp.color(i / (len(bounds) - 1)) if len(bounds) > 1 else ramp.color(0.5)
        text = _number(levels[i]) if one_level_each else f"{_number(low)} – {_number(high)}"
        upper = high if i < len(bounds) - 1 else max(high, OPEN_END)
        ranges.append(QgsRendererRange(low if i else 0.0, upper, _fill(color), f"{text} draws per epoch"))
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
    """Styles the output layer once QGIS has loaded it, and names it so that runs can be told apart
    (`output_names`: QGIS's file name when the user prefers it, else the description and what differs)."""

    def __init__(self, renderer, layer_name: str, aliases: dict | None = None, properties: dict | None = None,
                 run_label: str = "") -> None:
        super().__init__()
        self.renderer, self.layer_name, self.run_label = renderer, layer_name, run_label
        self.aliases, self.properties = aliases or {}, properties or {}
        _PENDING.add(self)

    def postProcessLayer(self, layer, context, feedback):
        if isinstance(layer, QgsVectorLayer):
            project = context.project() if context is not None and context.project() is not None else layer.project()
            name = output_layer_name(layer, self.layer_name, self.run_label, project)
            if name:
                layer.setName(name)
            style_layer(layer, self.renderer, self.aliases, self.properties)
            layer.triggerRepaint()
        _PENDING.discard(self)
