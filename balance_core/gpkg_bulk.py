"""A polygon layer written into a GeoPackage in one go: columns in, one SQLite transaction out.

Writing 155,000 patches one feature at a time (QGIS's feature sink, or OGR's CreateFeature) costs
seconds; here OGR only creates the layer (fields, CRS, geometry type, the GeoPackage's own tables
and the spatial index's R-tree and triggers), and the rows go in with one `executemany` in one
transaction: the GeoPackage geometry blobs of every patch built at once with numpy (header,
envelope, little-endian WKB polygon), the R-tree rows and the layer's extent from the same arrays.
The spatial index's triggers call functions only GDAL's own SQLite connection knows (ST_MinX…), so
they are set aside for the insert and put back, unchanged, in the same transaction.

Only single-ring polygons of five points (what a patch footprint is) take this path; `bulk_polygons`
says whether a set of geometries can. No QGIS here: the provider maps its fields and values.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, ogr, osr

from .errors import CancelledError, OutputWriteError
from .gpkg_geometry import gpkg_blobs
from .gpkg_geometry import quote_identifier as _quote

BATCH = 2000  # rows per executemany call: cancel is checked and progress reported in between


@dataclass(frozen=True)
class FieldSpec:
    """One attribute field: OGR type (ogr.OFTInteger64, OFTReal, OFTString, OFTInteger), width, subtype."""

    name: str
    kind: int
    width: int = 0
    subtype: int = ogr.OFSTNone


def _gdal_error(what: str) -> str:
    return f"{what}: {gdal.GetLastErrorMsg() or 'no reason given'}"


def create_layer(path: str, name: str, srs_text: str, fields: Sequence[FieldSpec], geometry: bool = True) -> None:
    """A new GeoPackage at `path` holding layer `name` (no feature yet), as QGIS's writer would make it.

    `srs_text`: "EPSG:<code>" or a WKT ('' for none)."""
    driver = ogr.GetDriverByName("GPKG")
    try:
        dataset = driver.CreateDataSource(path)
        if dataset is None:
            raise OutputWriteError(_gdal_error(f"Cannot create {path!r}"))
        srs = None
        if geometry and srs_text:
            srs = osr.SpatialReference()
            if srs.SetFromUserInput(srs_text) not in (None, 0):
                raise OutputWriteError(_gdal_error(f"Cannot write the CRS into {path!r}"))
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        options = ["GEOMETRY_NAME=geom", "FID=fid"] if geometry else ["FID=fid"]
        layer = dataset.CreateLayer(name, srs, ogr.wkbPolygon if geometry else ogr.wkbNone, options=options)
        if layer is None:
            raise OutputWriteError(_gdal_error(f"Cannot create layer {name!r} in {path!r}"))
        for spec in fields:
            definition = ogr.FieldDefn(spec.name, spec.kind)
            if spec.width:
                definition.SetWidth(spec.width)
            if spec.subtype != ogr.OFSTNone:
                definition.SetSubType(spec.subtype)
            if layer.CreateField(definition) != 0:
                raise OutputWriteError(_gdal_error(f"Cannot add the field {spec.name!r} to {path!r}"))
        if dataset.FlushCache() not in (None, 0):
            raise OutputWriteError(_gdal_error(f"Cannot write {path!r}"))
        layer = dataset = None  # closes the file: the table exists from here on
    except RuntimeError as exc:  # gdal.UseExceptions() on
        raise OutputWriteError(f"Cannot create {path!r}: {exc}") from exc


def _write_error(path: str, exc: sqlite3.Error) -> OutputWriteError:
    text = str(exc)
    full = "full" in text.lower() or getattr(exc, "sqlite_errorcode", None) == 13  # SQLITE_FULL
    reason = "the disk is full" if full else text
    return OutputWriteError(f"Cannot write {path!r}: {reason}. Nothing was changed; free space or choose another folder.")


def insert_rows(path: str, name: str, columns: Sequence[str], values: Sequence[Sequence], blobs: list | None,
                envelope: np.ndarray | None, cancelled: Callable[[], bool] = lambda: False,
                progress: Callable[[float], None] = lambda f: None) -> None:
    """Insert the rows (one value sequence per column, plus the geometry blobs) into the fresh layer `name` of
    `path` in one transaction, with its R-tree, extent and feature count. Raises OutputWriteError or
    CancelledError (then nothing was inserted)."""
    n = len(blobs) if blobs is not None else (len(values[0]) if values else 0)
    table = _quote(name)
    names = ([_quote("geom")] if blobs is not None else []) + [_quote(c) for c in columns]
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    try:
        db = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise _write_error(path, exc) from exc
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
                                  "AND sql IS NOT NULL", (name,)).fetchall()
            for trigger, _ in triggers:
                db.execute(f"DROP TRIGGER {_quote(trigger)}")
            cells = [blobs] if blobs is not None else []
            cells += list(values)
            for start in range(0, n, BATCH):
                if cancelled():
                    raise CancelledError("Cancelled by the user while writing the patch layer; nothing was written.")
                stop = min(start + BATCH, n)
                db.executemany(sql, zip(*[c[start:stop] for c in cells]))
                progress(stop / max(n, 1))
            if blobs is not None:
                _fill_rtree(db, name, envelope, n)
            for _, statement in triggers:
                db.execute(statement)
            db.execute("UPDATE gpkg_ogr_contents SET feature_count = ? WHERE lower(table_name) = lower(?)", (n, name))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise _write_error(path, exc) from exc
    finally:
        db.close()


def _fill_rtree(db, name: str, envelope: np.ndarray, n: int) -> None:
    """The spatial index's rows (fid = 1…n, as the insert gave them) and the layer's extent in gpkg_contents."""
    column = db.execute("SELECT column_name FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)",
                        (name,)).fetchone()
    rtree = f"rtree_{name}_{column[0]}" if column else None
    exists = rtree and db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (rtree,)).fetchone()
    span = f"SELECT min(fid), max(fid), count(*) FROM {_quote(name)}"  # nosec B608 - a quoted identifier
    low, high, count = db.execute(span).fetchone()
    if count != n or (n and (low, high) != (1, n)):  # a fresh table numbers its rows 1…n in insert order
        raise sqlite3.DatabaseError(f"{count} of {n} rows written")
    if exists:
        fids = np.arange(1, n + 1).tolist()
        insert = f"INSERT INTO {_quote(rtree)} (id, minx, maxx, miny, maxy) VALUES (?, ?, ?, ?, ?)"  # nosec B608
        db.executemany(insert, zip(fids, *envelope.T.tolist()))
    if n:
        extent = (float(envelope[:, 0].min()), float(envelope[:, 2].min()),
                  float(envelope[:, 1].max()), float(envelope[:, 3].max()))
        db.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? "
                   "WHERE lower(table_name) = lower(?)", (*extent, name))


def srs_id(path: str, name: str) -> int:
    """The srs_id the layer's geometry column refers to (0: undefined)."""
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT srs_id FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)",
                         (name,)).fetchone()
    return int(row[0]) if row else 0


def write_layer(path: str, name: str, srs_text: str, fields: Sequence[FieldSpec], values: Sequence[Sequence],
                records: np.ndarray | None, cancelled: Callable[[], bool] = lambda: False,
                progress: Callable[[float], None] = lambda f: None) -> None:
    """A new GeoPackage `path` with layer `name`: fields, one value sequence per field, polygon records
    (`gpkg_geometry.polygon_records`/`records_from_wkb`; None for a table without geometry)."""
    create_layer(path, name, srs_text, fields, geometry=records is not None)
    blobs = envelope = None
    if records is not None:
        try:
            blobs, envelope = gpkg_blobs(records, srs_id(path, name))
        except sqlite3.Error as exc:
            raise _write_error(path, exc) from exc
    insert_rows(path, name, [f.name for f in fields], values, blobs, envelope, cancelled, progress)

