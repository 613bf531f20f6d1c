"""GeoPackage geometry blobs of patch footprints, built for every patch at once with numpy.

A footprint is a single-ring polygon of five points; its GeoPackage blob is a fixed-size record (header with
the envelope, then a little-endian WKB polygon), so a whole layer's blobs are one structured array. Needs
only numpy: the GDAL-backed bulk writer (gpkg_bulk) and the command line's own GeoPackage (table_io) share it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POLYGON_WKB = np.dtype([("order", "u1"), ("type", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xy", "<f8", (5, 2))])
# GeoPackageBinary header: magic, version 0, flags (little-endian, envelope [minx, maxx, miny, maxy]), srs_id, envelope
GPKG_HEADER = np.dtype([("magic", "S2"), ("version", "u1"), ("flags", "u1"), ("srs_id", "<i4"), ("envelope", "<f8", (4,))])
GPKG_POLYGON = np.dtype([("header", GPKG_HEADER), ("wkb", POLYGON_WKB)])


def polygon_records(rings: np.ndarray) -> np.ndarray:
    """Little-endian WKB polygons (one ring of 5 points each) of every patch, as one structured array."""
    wkb = np.empty(len(rings), dtype=POLYGON_WKB)
    wkb["order"], wkb["type"], wkb["rings"], wkb["points"] = 1, 3, 1, 5
    wkb["xy"] = rings
    return wkb


def records_from_wkb(blobs: Sequence) -> np.ndarray | None:
    """The polygon records of WKB blobs when every one is a little-endian single-ring 5-point polygon, else None."""
    size = POLYGON_WKB.itemsize
    if any(b is None or len(b) != size for b in blobs):
        return None
    records = np.frombuffer(b"".join(bytes(b) for b in blobs), dtype=POLYGON_WKB)
    ok = (records["order"] == 1) & (records["type"] == 3) & (records["rings"] == 1) & (records["points"] == 5)
    return records if bool(ok.all()) else None


def gpkg_blobs(records: np.ndarray, srs_id: int) -> tuple[list, np.ndarray]:
    """GeoPackage geometry blobs (as OGR writes them: header + envelope + WKB) and the (n, 4) envelopes
    (minx, maxx, miny, maxy)."""
    xy = records["xy"]
    envelope = np.stack([xy[:, :, 0].min(axis=1), xy[:, :, 0].max(axis=1),
                         xy[:, :, 1].min(axis=1), xy[:, :, 1].max(axis=1)], axis=1)
    out = np.empty(len(records), dtype=GPKG_POLYGON)
    out["header"]["magic"], out["header"]["version"], out["header"]["flags"] = b"GP", 0, 0b011
    out["header"]["srs_id"] = srs_id
    out["header"]["envelope"] = envelope
    out["wkb"] = records
    raw, size = out.tobytes(), GPKG_POLYGON.itemsize
    return [raw[i:i + size] for i in range(0, len(raw), size)], envelope


def quote_identifier(name: str) -> str:
    """An SQLite identifier in double quotes (quotes inside doubled): any table or column name is safe."""
    return '"' + name.replace('"', '""') + '"'
