"""Open and check an image/mask pair; read strips of rows with clear errors.

rasterio here is Debian's `python3-rasterio`, built on the same GDAL as QGIS, so the
plugin never loads a second GDAL into the QGIS process (pip's rasterio wheel bundles one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import RasterioError, RasterioIOError

READ_ERRORS = (RasterioError, RasterioIOError)  # RasterioIOError is an OSError, not a RasterioError
from rasterio.windows import Window

from .errors import GridMismatchError, MaskTypeError, RasterReadError


@dataclass(frozen=True)
class RasterPair:
    """An image raster and its label mask, checked to share one pixel grid."""

    image_path: str
    mask_path: str
    width: int
    height: int
    transform: Affine
    crs_wkt: str
    mask_nodata: float | None
    mask_dtype: str
    image_bands: int
    image_dtype: str = "uint8"
    image_nodata: float | None = None


def open_raster(path: str, role: str):
    try:
        return rasterio.open(path)
    except READ_ERRORS as exc:
        raise RasterReadError(f"Cannot open the {role} raster {path!r}: {exc}") from exc


def _same(a: float, b: float, scale: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=abs(scale) * 1e-6)


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
        if img.crs != msk.crs:
            raise GridMismatchError(
                f"Image and mask are in different CRS: image {img.crs} vs mask {msk.crs}. "
                "Reproject the mask onto the image grid (nearest neighbour) first."
            )
        if (img.width, img.height) != (msk.width, msk.height):
            raise GridMismatchError(
                "Image and mask are not on the same pixel grid: image is "
                f"{img.width}×{img.height} px, mask is {msk.width}×{msk.height} px."
            )
        it, mt = img.transform, msk.transform
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
            crs_wkt=img.crs.to_wkt() if img.crs else "",
            mask_nodata=msk.nodata,
            mask_dtype=mask_dtype,
            image_bands=img.count,
            image_dtype=img.dtypes[0],
            image_nodata=img.nodata,
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
