"""Class names and colours: from a class-map file, the mask's raster attribute table or colour table.

Used for field aliases, the report and the dock. Where nothing names a class, its value is
its name. QGIS's own renderers (paletted / unique values) are read by the provider, which
hands the result here as plain `ClassInfo`s.
"""
from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass

from .errors import InvalidParameterError

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class ClassInfo:
    value: int
    name: str
    colour: str = ""  # "#rrggbb", "" = unknown


Legend = dict[int, ClassInfo]


# A qualitative palette (matplotlib's tab10, less its last two) for classes no source colours.
FALLBACK_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def class_colour(legend: Legend, value: int, index: int) -> str:
    """The class's own colour, else the index-th fallback colour ("#rrggbb")."""
    info = legend.get(int(value))
    return info.colour if info and info.colour else FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)]


def class_name(legend: Legend, value: int) -> str:
    info = legend.get(int(value))
    return info.name if info and info.name else str(int(value))


def _colour(text: str) -> str:
    match = _HEX.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a #rrggbb colour")
    return "#" + match.group(1).lower()


def rgb_hex(r: int, g: int, b: int) -> str:
    return f"#{int(r):02x}{int(g):02x}{int(b):02x}"


def read_class_map(path: str) -> Legend:
    """A small text file, one class per line, comma-separated. Two layouts are read:

    - `value,name[,#rrggbb]` (a header line `value,name,colour` is allowed);
    - QGIS's colour-map export (paletted renderer → Export colour map): `value,r,g,b,alpha,label`.
    Lines starting with `#` and `INTERPOLATION:` are skipped.
    """
    legend: Legend = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InvalidParameterError(f"Cannot read the class map {path!r}: {exc}") from exc
    for number, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or cells[0].startswith("#") or cells[0].upper().startswith("INTERPOLATION"):
            continue
        if number == 1 and cells[0].lower() in ("value", "class", "id"):
            continue
        try:
            value = int(float(cells[0]))
            if len(cells) >= 6 and all(c.isdigit() for c in cells[1:5]):  # QGIS colour-map export
                info = ClassInfo(value, ",".join(cells[5:]) or str(value), rgb_hex(*map(int, cells[1:4])))
            else:
                info = ClassInfo(value, cells[1] if len(cells) > 1 and cells[1] else str(value),
                                 _colour(cells[2]) if len(cells) > 2 and cells[2] else "")
        except ValueError as exc:
            raise InvalidParameterError(
                f"Class map {path!r}, line {number}: {exc}. Expected 'value,name,#rrggbb' per line "
                "(or QGIS's exported colour map)."
            ) from exc
        legend[value] = info
    if not legend:
        raise InvalidParameterError(f"The class map {path!r} names no class; expected 'value,name,#rrggbb' lines.")
    return legend


def legend_from_raster(path: str) -> Legend:
    """Names from the band's raster attribute table or category names, colours from its colour table."""
    try:
        from osgeo import gdal
    except ImportError:  # pragma: no cover - python3-gdal comes with QGIS
        return {}
    gdal.UseExceptions()
    try:
        dataset = gdal.Open(path)
        band = dataset.GetRasterBand(1)
    except RuntimeError:
        return {}  # unreadable here; the composition stage reports it with more context
    names: dict[int, str] = {}
    rat = band.GetDefaultRAT()
    if rat is not None:
        usage = {rat.GetUsageOfCol(i): i for i in range(rat.GetColumnCount())}
        value_col = usage.get(gdal.GFU_MinMax, usage.get(gdal.GFU_Min))
        name_col = usage.get(gdal.GFU_Name)
        if name_col is not None:
            for row in range(rat.GetRowCount()):
                value = rat.GetValueAsInt(row, value_col) if value_col is not None else row
                names[value] = rat.GetValueAsString(row, name_col)
    if not names:
        names = {i: n for i, n in enumerate(band.GetCategoryNames() or []) if n}
    colours: dict[int, str] = {}
    table = band.GetColorTable()
    if table is not None:
        for i in range(table.GetCount()):
            r, g, b, _ = table.GetColorEntry(i)
            colours[i] = rgb_hex(r, g, b)
    values = set(names) | set(colours)
    return {v: ClassInfo(v, names.get(v, str(v)), colours.get(v, "")) for v in sorted(values)}


def legend_to_json(legend: Legend) -> str:
    return json.dumps([asdict(info) for info in sorted(legend.values(), key=lambda i: i.value)])


def legend_from_json(text: str) -> Legend:
    try:
        items = json.loads(text)
        return {int(i["value"]): ClassInfo(int(i["value"]), str(i["name"]), str(i.get("colour", ""))) for i in items}
    except (TypeError, ValueError, KeyError):
        return {}
