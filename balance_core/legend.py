"""Class names and colours: from a class-map file, the mask's raster attribute table or colour table.

Used for field aliases, the report and the dock. Where nothing names a class, its value is
its name. QGIS's own renderers (paletted / unique values) are read by the provider, which
hands the result here as plain `ClassInfo`s.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from .errors import InvalidParameterError

# "#rrggbb" or "#rrggbbaa" (the alpha is dropped: the report and the dock draw opaque swatches, and Qt would
# read an 8-digit "#rrggbbaa" as "#aarrggbb"). Nothing else reaches a style attribute of the report.
_HEX = re.compile(r"#?([0-9a-fA-F]{6})([0-9a-fA-F]{2})?")
MAX_CLASS_MAP_BYTES = 16 * 1024 * 1024  # 65,536 classes with long names fit many times over


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
    colour = safe_colour(info.colour) if info else ""
    return colour or FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)]


def class_name(legend: Legend, value: int) -> str:
    info = legend.get(int(value))
    return info.name if info and info.name else str(int(value))


def safe_colour(text) -> str:
    """`text` as "#rrggbb" when it is a #rrggbb or #rrggbbaa colour, else "" (the caller's fallback colour)."""
    match = _HEX.fullmatch(text.strip()) if isinstance(text, str) else None
    return "#" + match.group(1).lower() if match else ""


def _colour(text: str) -> str:
    colour = safe_colour(text)
    if not colour:
        raise ValueError(f"{text[:40]!r} is not a #rrggbb colour")
    return colour


def rgb_hex(r: int, g: int, b: int) -> str:
    if not all(0 <= int(c) <= 255 for c in (r, g, b)):
        raise ValueError(f"red, green and blue must be 0–255, got {r}, {g}, {b}")
    return f"#{int(r):02x}{int(g):02x}{int(b):02x}"


def _read_text(path: str, warn: Callable[[str], None] | None) -> str:
    """A small text file as UTF-8; a Windows-1252 / Latin-1 file (a spreadsheet's CSV export) is read too, with a note."""
    try:
        if os.path.getsize(path) > MAX_CLASS_MAP_BYTES:
            raise InvalidParameterError(
                f"The class map {path!r} is {os.path.getsize(path) / 2**20:.0f} MB: not a list of classes. "
                "Give a small text file with one 'value,name,#rrggbb' line per class.")
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise InvalidParameterError(f"Cannot read the class map {path!r}: {exc}") from exc
    if b"\0" in data:
        raise InvalidParameterError(
            f"The class map {path!r} is not a text file (a raster or another binary file?). Give a text file with "
            "one 'value,name,#rrggbb' line per class.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text, encoding = data.decode("cp1252"), "Windows-1252 (Western European)"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "Latin-1"
    if warn is not None:
        warn(f"The class map {path!r} is not UTF-8; it was read as {encoding}. If class names look wrong, "
             "save it as UTF-8.")
    return text


def read_class_map(path: str, warn: Callable[[str], None] | None = None) -> Legend:
    """A small text file, one class per line, comma-separated. Two layouts are read:

    - `value,name[,#rrggbb]` (a header line `value,name,colour` is allowed);
    - QGIS's colour-map export (paletted renderer → Export colour map): `value,r,g,b,alpha,label`.
    Lines starting with `#` and `INTERPOLATION:` are skipped. UTF-8 is expected; a file that is not UTF-8 is
    read as Windows-1252 (else Latin-1) and `warn` is told.
    """
    legend: Legend = {}
    try:
        rows = list(csv.reader(io.StringIO(_read_text(path, warn), newline="")))
    except csv.Error as exc:
        raise InvalidParameterError(f"Class map {path!r}: {exc}. Expected 'value,name,#rrggbb' per line.") from exc
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
        except (ValueError, OverflowError) as exc:
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
    was = gdal.GetUseExceptions()
    gdal.UseExceptions()
    try:
        return _legend_from_gdal(path, gdal)
    finally:
        if not was:  # the process-wide setting as it was: QGIS and other plugins rely on it
            gdal.DontUseExceptions()


def _legend_from_gdal(path: str, gdal) -> Legend:
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
            colours[i] = rgb_hex(*(min(max(int(c), 0), 255) for c in (r, g, b)))
    values = set(names) | set(colours)
    return {v: ClassInfo(v, names.get(v, str(v)), colours.get(v, "")) for v in sorted(values)}


def legend_to_json(legend: Legend) -> str:
    return json.dumps([asdict(info) for info in sorted(legend.values(), key=lambda i: i.value)])


def legend_from_json(text: str) -> Legend:
    """The legend stored with a patch layer (any text: a layer's custom property can be edited by anyone).

    A colour that is not #rrggbb / #rrggbbaa is dropped (the class then gets a fallback colour); names are
    plain text, escaped wherever they are shown.
    """
    try:
        items = json.loads(text)
        return {int(i["value"]): ClassInfo(int(i["value"]), str(i["name"]), safe_colour(i.get("colour", "")))
                for i in items}
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
        return {}
