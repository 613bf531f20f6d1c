"""Open and check an image/mask pair; read strips of rows with clear errors.

Rasters are read through `raster_io` (GDAL's own bindings, QGIS's GDAL inside QGIS; rasterio
elsewhere), so the plugin never loads a second GDAL into the QGIS process.

A raster without georeferencing gets the transform QGIS draws it with, (0, 1, 0, 0, 0, −1):
x = column, y = −row. An identity transform (y growing downward) would put every
footprint mirrored below the x axis, away from the raster on the map.

Opening a pair also looks, on a few small windows, for inputs given in the wrong role: a mask
with several bands or hundreds of distinct values looks like imagery, an image with one
integer band and a handful of values looks like a label raster. These are warnings (a
16-bit mask may hold many classes), carried in `RasterPair.notes` for the caller to report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import GridMismatchError, MaskTypeError, RasterReadError
from .raster_io import ReadFailure, Transform, Window, crs_label, open_dataset, same_crs

READ_ERRORS = (ReadFailure,)  # what every raster_io adapter raises for a file it cannot open or read
QGIS_PIXEL_TRANSFORM = Transform(1.0, 0.0, 0.0, 0.0, -1.0, 0.0)  # how QGIS places a raster without georeferencing
SAMPLE_SIDE = 128  # role checks read at most 3 × 3 windows of this side per raster
LABEL_LIKE_MAX = 32  # an integer band with at most this many distinct values looks like labels
IMAGERY_LIKE_MIN = 256  # a mask band with at least this many distinct values looks like imagery


@dataclass(frozen=True)
class RasterPair:
    """An image raster and its label mask, checked to share one pixel grid."""

    image_path: str
    mask_path: str
    width: int
    height: int
    transform: Transform
    crs_wkt: str
    mask_nodata: float | None
    mask_dtype: str
    image_bands: int
    image_dtype: str = "uint8"
    image_nodata: float | None = None
    georeferenced: bool = True  # False: pixel coordinates as QGIS draws the raster (x = column, y = −row)
    notes: tuple[str, ...] = ()  # warnings about the inputs (e.g. image and mask seem swapped)


def open_raster(path: str, role: str):
    try:
        return open_dataset(path)
    except READ_ERRORS as exc:
        raise RasterReadError(f"Cannot open the {role} raster {path!r}: {exc}") from exc


def _same(a: float, b: float, scale: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=abs(scale) * 1e-6)


def map_transform(dataset, path: str, role: str) -> tuple[Transform, bool]:
    """The transform QGIS draws the raster with, and whether the file is georeferenced."""
    transform = dataset.geotransform()
    if transform is not None and not transform.is_identity:
        return transform, True
    if dataset.has_gcps_or_rpcs():
        raise GridMismatchError(
            f"The {role} raster {path!r} is georeferenced only by ground control points (or RPCs), which QGIS "
            "warps on the fly: patch windows cannot follow that. Warp it first (Raster ▸ Projections ▸ Warp, or "
            "`gdalwarp`), its mask too."
        )
    if transform is not None:  # a genuine (0, 1, 0, 0, 0, 1) geotransform
        return transform, True
    return QGIS_PIXEL_TRANSFORM, False


def sample_values(dataset, band: int = 1) -> np.ndarray:
    """Pixels of up to 3 × 3 small windows spread over the raster: a cheap look at its values, whatever its size."""
    rows = np.unique(np.linspace(0, max(dataset.height - SAMPLE_SIDE, 0), 3).astype(int))
    cols = np.unique(np.linspace(0, max(dataset.width - SAMPLE_SIDE, 0), 3).astype(int))
    parts = [
        read_window(dataset, Window(int(c), int(r), min(SAMPLE_SIDE, dataset.width), min(SAMPLE_SIDE, dataset.height)),
                    band).ravel()
        for r in rows for c in cols
    ]
    return np.concatenate(parts)


def role_notes(img, msk, image_path: str, mask_path: str) -> tuple[str, ...]:
    """Warnings when image and mask look given in the wrong roles (a few small windows are read)."""
    mask_values = len(np.unique(sample_values(msk)))
    label_like_image = img.count == 1 and np.issubdtype(np.dtype(img.dtypes[0]), np.integer)
    image_values = len(np.unique(sample_values(img))) if label_like_image else 0
    label_like_image = label_like_image and image_values <= LABEL_LIKE_MAX
    swap = (f" The image {image_path!r} looks like a label raster (one integer band, {image_values} distinct "
            "values): were image and mask swapped?") if label_like_image else " Is it the right raster?"
    notes = []
    if msk.count > 1:
        notes.append(f"The mask raster {mask_path!r} has {msk.count} bands; only band 1 is read as class labels, "
                     f"and a label mask has one band.{swap}")
    if mask_values >= IMAGERY_LIKE_MIN:
        notes.append(f"The mask raster {mask_path!r} holds {mask_values} distinct values in a small sample: it looks "
                     f"like imagery, not class labels (every value would become a class).{swap}")
    if not notes and label_like_image and mask_values > LABEL_LIKE_MAX:
        notes.append(f"The image raster {image_path!r} looks like a label raster (one integer band, {image_values} "
                     f"distinct values) while the mask {mask_path!r} has {mask_values} distinct values in a small "
                     "sample: were image and mask swapped?")
    return tuple(notes)


def open_pair(image_path: str, mask_path: str) -> RasterPair:
    """Open both rasters and check that every mask pixel sits on an image pixel."""
    with open_raster(image_path, "image") as img, open_raster(mask_path, "mask") as msk:
        if msk.count < 1:
            raise MaskTypeError(f"The mask raster {mask_path!r} has no band.")
        mask_dtype = msk.dtypes[0]
        if not np.issubdtype(np.dtype(mask_dtype), np.integer):
            raise MaskTypeError(
                f"The mask raster {mask_path!r} stores {mask_dtype} values; class labels must be "
                "integers. Convert it, e.g. `gdal_translate -ot Byte` (or UInt16 for more than 256 classes)."
            )
        it, image_georeferenced = map_transform(img, image_path, "image")
        mt, mask_georeferenced = map_transform(msk, mask_path, "mask")
        if image_georeferenced != mask_georeferenced:
            bare, other = ("mask", "image") if image_georeferenced else ("image", "mask")
            raise GridMismatchError(
                f"The {bare} raster {mask_path if image_georeferenced else image_path!r} has no georeferencing while "
                f"the {other} has: QGIS would draw them apart. Give the {bare} the {other}'s georeferencing (e.g. "
                "`gdal_translate -a_ullr … -a_srs …`, or save it from QGIS with the other's extent)."
            )
        if not same_crs(img.crs_wkt, msk.crs_wkt):
            raise GridMismatchError(
                f"Image and mask are in different CRS: image {crs_label(img.crs_wkt)} vs mask "
                f"{crs_label(msk.crs_wkt)}. "
                "Reproject the mask onto the image grid (nearest neighbour) first."
            )
        if (img.width, img.height) != (msk.width, msk.height):
            raise GridMismatchError(
                "Image and mask are not on the same pixel grid: image is "
                f"{img.width}×{img.height} px, mask is {msk.width}×{msk.height} px."
            )
        if not (_same(it.a, mt.a, it.a) and _same(it.e, mt.e, it.e)
                and _same(it.b, mt.b, it.a) and _same(it.d, mt.d, it.e)):
            raise GridMismatchError(
                "Image and mask are not on the same pixel grid: pixel size "
                f"image ({it.a}, {it.e}) vs mask ({mt.a}, {mt.e})."
            )
        if not (_same(it.c, mt.c, it.a) and _same(it.f, mt.f, it.e)):
            raise GridMismatchError(
                "Image and mask are not on the same pixel grid: mask origin "
                f"({mt.c}, {mt.f}) vs image origin ({it.c}, {it.f})."
            )
        return RasterPair(
            image_path=image_path,
            mask_path=mask_path,
            width=img.width,
            height=img.height,
            transform=it,
            crs_wkt=img.crs_wkt,
            mask_nodata=msk.nodata,
            mask_dtype=mask_dtype,
            image_bands=img.count,
            image_dtype=img.dtypes[0],
            image_nodata=img.nodata,
            georeferenced=image_georeferenced,
            notes=role_notes(img, msk, image_path, mask_path),
        )


def read_rows(dataset, row_off: int, height: int, bands=None) -> np.ndarray:
    """Read `height` full-width rows; a damaged block becomes a `RasterReadError`."""
    return read_window(dataset, Window(0, row_off, dataset.width, height), bands)


def read_window(dataset, window: Window, bands=None) -> np.ndarray:
    """Read one window; a damaged block becomes a `RasterReadError` naming the rows."""
    try:
        return dataset.read(bands, window=window)
    except READ_ERRORS as exc:
        first = int(window.row_off)
        raise RasterReadError(
            f"Cannot read rows {first}–{first + int(window.height) - 1} of {dataset.name!r} "
            f"(the file may be truncated or corrupt): {exc}"
        ) from exc
