"""Patch tables to and from files without QGIS: CSV in, GeoJSON and GeoPackage out (standard library only).

The GeoPackage is written with `sqlite3` following the OGC GeoPackage 1.3 encoding (GP header + WKB polygons,
`gpkg_spatial_ref_sys` / `gpkg_contents` / `gpkg_geometry_columns`), so no GDAL/OGR bindings are needed; QGIS and
GDAL open it as any other. Footprints are in the rasters' own CRS. Both writers go through `writers.atomic_path`
(staged while a run is active).
"""
from __future__ import annotations

import csv
import json
import math
import re
import sqlite3
from collections.abc import Mapping, Sequence

import numpy as np

from .errors import InvalidParameterError
from .gpkg_geometry import gpkg_blobs, polygon_records
from .gpkg_geometry import quote_identifier as _quote
from .schema import FLOAT, INT, TEXT, output_columns, class_dist_json
from .table import PatchTable
from .writers import atomic_path, compatible_flags

UNDEFINED_SRS = -1


def read_csv_columns(path: str) -> dict[str, list]:
    """A CSV file as {column: [cell, …]} (text cells; empty cells stay '', read as no value later)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header:
                raise InvalidParameterError(f"The CSV file {path!r} is empty.")
            rows = list(reader)
    except OSError as exc:
        raise InvalidParameterError(f"Cannot read the CSV file {path!r}: {exc.strerror or exc}.") from exc
    except UnicodeDecodeError as exc:
        raise InvalidParameterError(f"The CSV file {path!r} is not UTF-8 text.") from exc
    if len(set(header)) != len(header):
        raise InvalidParameterError(f"The CSV file {path!r} repeats a column name.")
    short = next((i for i, r in enumerate(rows) if len(r) != len(header)), None)
    if short is not None:
        raise InvalidParameterError(f"Line {short + 2} of {path!r} has {len(rows[short])} cells; the header has "
                                    f"{len(header)}.")
    return {name: [r[j] for r in rows] for j, name in enumerate(header)}


def _cell(value):
    """A JSON-safe property value."""
    if value is None:
        return None
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def feature_columns(table: PatchTable, extra: Mapping[str, Sequence] | None = None) -> list[tuple[str, str, list]]:
    """(name, kind, values) of every attribute written: the patch layer's columns, class_dist_json, the
    compatible flags and the input's own extra columns."""
    out = [(c.name, c.kind, c.as_list()) for c in output_columns(table)]
    out.append(("class_dist_json", TEXT, class_dist_json(table)))
    out += [(name, TEXT, values) for name, values in compatible_flags(table).items()]
    taken = {name for name, _, _ in out}
    for name, values in (extra or {}).items():
        if name not in taken:
            out.append((name, TEXT, ["" if v is None else str(v) for v in values]))
    return out


def epsg_code(crs_wkt: str) -> int | None:
    """The EPSG code of a CRS, where the WKT names one (its outermost AUTHORITY / ID)."""
    if not crs_wkt:
        return None
    try:
        from .raster_io import crs_label

        label = crs_label(crs_wkt)
        if label.upper().startswith("EPSG:"):
            return int(label.split(":", 1)[1])
    except (ImportError, ValueError):
        pass
    found = re.findall(r'(?:AUTHORITY|ID)\["EPSG",\s*"?(\d+)"?\]', crs_wkt)
    return int(found[-1]) if found else None


def write_geojson(table: PatchTable, rings: np.ndarray, crs_wkt: str, path: str,
                  extra: Mapping[str, Sequence] | None = None) -> str | None:
    """Patch footprints as a GeoJSON FeatureCollection in the rasters' CRS (named by the legacy `crs` member,
    which GDAL and QGIS read); returns a warning when the CRS has no EPSG code to name it by."""
    columns = feature_columns(table, extra)
    code = epsg_code(crs_wkt)
    features = []
    for i in range(len(table)):
        ring = [[float(x), float(y)] for x, y in rings[i]]
        properties = {name: _cell(values[i]) for name, _, values in columns}
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": properties})
    document = {"type": "FeatureCollection", "features": features}
    if code is not None:
        document["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{code}"}}
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(document, fh, allow_nan=False)
        fh.write("\n")
    if code is None and crs_wkt:
        return (f"{path}: GeoJSON names a CRS by its EPSG code and the rasters' CRS has none; readers will take the "
                "coordinates as WGS 84. Write output.gpkg_path instead (it stores the full CRS definition).")
    return None


def write_gpkg(table: PatchTable, rings: np.ndarray, crs_wkt: str, path: str, layer: str = "patches",
               extra: Mapping[str, Sequence] | None = None) -> None:
    """Patch footprints as a new GeoPackage (one polygon layer) in the rasters' CRS."""
    columns = feature_columns(table, extra)
    code = epsg_code(crs_wkt)
    srs_id = code if code is not None else (100000 if crs_wkt else UNDEFINED_SRS)
    with atomic_path(path) as tmp:
        con = sqlite3.connect(tmp)
        try:
            _write_gpkg(con, table, rings, crs_wkt, srs_id, code, layer, columns)
            con.commit()
        finally:
            con.close()


def _write_gpkg(con, table, rings, crs_wkt, srs_id, code, layer, columns) -> None:
    con.execute("PRAGMA application_id = 1196444487")  # 'GPKG'
    con.execute("PRAGMA user_version = 10300")
    con.execute("CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, "
                "organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, "
                "description TEXT)")
    srs_rows = [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
                ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
                ("WGS 84 geodetic", 4326, "EPSG", 4326,
                 'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
                 'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",'
                 '0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]]', "longitude/latitude")]
    if srs_id not in (-1, 0, 4326):
        srs_rows.append(("rasters' CRS", srs_id, "EPSG" if code is not None else "NONE",
                         code if code is not None else srs_id, crs_wkt, ""))
    con.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", srs_rows)
    con.execute("CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, "
                "identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT "
                "(strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, "
                "srs_id INTEGER, CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))")
    con.execute("CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, "
                "geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL, "
                "CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name), CONSTRAINT uk_gc_table_name UNIQUE "
                "(table_name), CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name), "
                "CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))")
    sql_types = {INT: "INTEGER", FLOAT: "REAL", TEXT: "TEXT"}
    names = [name for name, _, _ in columns]
    if len({n.lower() for n in names} | {"fid", "geom"}) != len(names) + 2:
        raise InvalidParameterError("Two output columns differ only in case (or are named fid/geom): rename one.")
    defs = ", ".join(f"{_quote(name)} {sql_types[kind]}" for name, kind, _ in columns)
    con.execute(f"CREATE TABLE {_quote(layer)} (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, geom POLYGON, {defs})")
    xs, ys = rings[..., 0], rings[..., 1]
    extent = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())) if len(rings) else (None,) * 4
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, min_x, min_y, max_x, max_y, "
                "srs_id) VALUES (?, 'features', ?, 'Patch Balancer patches', ?, ?, ?, ?, ?)",
                (layer, layer, *extent, srs_id))
    con.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'POLYGON', ?, 0, 0)", (layer, srs_id))
    placeholders = ", ".join("?" for _ in range(len(columns) + 1))
    insert = (f"INSERT INTO {_quote(layer)} (geom, {', '.join(_quote(n) for n in names)}) "  # nosec B608 - quoted
              f"VALUES ({placeholders})")  # identifiers; every value is a bound parameter

    def value(kind, v):
        if v is None:
            return None
        if kind == FLOAT:
            v = float(v)
            return v if math.isfinite(v) else None
        if kind == INT:
            return int(v)
        return str(v)

    blobs, _ = gpkg_blobs(polygon_records(rings), srs_id)
    con.executemany(insert, ([blobs[i]] + [value(kind, values[i]) for _, kind, values in columns]
                             for i in range(len(table))))
