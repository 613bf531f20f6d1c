"""Spatial blocks: the units a split assigns, so that neighbouring patches share a split.

A random split of patches puts a patch in validation next to (or, with stride < patch size,
overlapping) its training neighbours: validation then measures memory, not generalisation.
Splitting whole blocks keeps neighbours together; only patches at block borders can still touch
another split, and the buffer (`split_buffer`) takes care of those.

Three kinds of blocks, all as one dense block id per patch (0 … B−1, in a stable order so a
seed gives the same split on every machine):

- **grid**: square cells of `block_size` map units over the patches' common extent (default
  8 patches wide); a patch belongs to the cell holding its centre;
- **raster**: every raster (image_path) is one block, for tiled datasets where tiles are the
  natural units (a tile is never cut between splits);
- **region**: the user's polygons, one block each (the provider finds the region holding each
  patch's centre); patches outside every region fall back to grid cells of `block_size`, so
  they are still split spatially rather than dropped or scattered one by one.
"""
from __future__ import annotations

import numpy as np

from .errors import InvalidParameterError

DEFAULT_BLOCK_PATCHES = 8  # BLOCK_SIZE 0 = this many patches wide
BLOCK_KINDS = ("grid", "raster", "region")


def patch_bounds(rings: np.ndarray) -> np.ndarray:
    """(n, 4) xmin, ymin, xmax, ymax of footprint rings (n, k, 2) (the layer's axis-aligned rectangles)."""
    rings = np.asarray(rings, dtype=np.float64)
    return np.column_stack([rings[..., 0].min(axis=1), rings[..., 1].min(axis=1),
                            rings[..., 0].max(axis=1), rings[..., 1].max(axis=1)])


def patch_centres(bounds: np.ndarray) -> np.ndarray:
    bounds = np.asarray(bounds, dtype=np.float64)
    return np.column_stack([(bounds[:, 0] + bounds[:, 2]) / 2.0, (bounds[:, 1] + bounds[:, 3]) / 2.0])


def default_block_size(bounds: np.ndarray) -> float:
    """8 patches wide: the median patch side (map units) × 8."""
    bounds = np.asarray(bounds, dtype=np.float64)
    side = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    return float(np.median(side)) * DEFAULT_BLOCK_PATCHES if len(side) else 0.0


def _dense(keys: np.ndarray) -> np.ndarray:
    """Dense ids 0 … B−1 of the distinct rows (or values) of `keys`, in sorted key order."""
    if keys.ndim == 1:
        return np.unique(keys, return_inverse=True)[1].astype(np.int64).ravel()
    return np.unique(keys, axis=0, return_inverse=True)[1].astype(np.int64).ravel()


def grid_blocks(bounds: np.ndarray, block_size: float = 0.0) -> np.ndarray:
    """Block id per patch: the `block_size` cell (map units; 0 = 8 patches wide) holding its centre.

    Cells start at the extent's north-west corner, so the same patches always make the same cells.
    """
    bounds = np.asarray(bounds, dtype=np.float64)
    if not len(bounds):
        return np.zeros(0, dtype=np.int64)
    size = block_size if block_size > 0 else default_block_size(bounds)
    if not np.isfinite(size) or size <= 0:
        raise InvalidParameterError(f"The block size must be a positive number of map units, got {block_size!r}.")
    centres = patch_centres(bounds)
    x0, y1 = bounds[:, 0].min(), bounds[:, 3].max()
    ix = np.floor((centres[:, 0] - x0) / size).astype(np.int64)
    iy = np.floor((y1 - centres[:, 1]) / size).astype(np.int64)
    return _dense(np.column_stack([iy, ix]))


def raster_blocks(image_paths: np.ndarray) -> np.ndarray:
    """Block id per patch: its raster (image_path), for tiled datasets split tile by tile."""
    paths = np.asarray([str(p) for p in image_paths], dtype=object)
    if not len(paths):
        return np.zeros(0, dtype=np.int64)
    return _dense(paths.astype(str))


def region_blocks(region_index: np.ndarray, bounds: np.ndarray, block_size: float = 0.0) -> np.ndarray:
    """Block id per patch: its region (`region_index` ≥ 0, one block per region), else a grid cell.

    Patches outside every region (`region_index` −1) are split by grid cells of `block_size`
    (0 = 8 patches wide) rather than dropped: the regions refine the split where the user drew them.
    """
    region_index = np.asarray(region_index, dtype=np.int64)
    inside = region_index >= 0
    keys = np.empty((len(region_index), 3), dtype=np.int64)
    keys[:, 0] = np.where(inside, 0, 1)  # regions first, then the cells outside them
    keys[:, 1] = np.where(inside, region_index, 0)
    keys[:, 2] = 0
    if (~inside).any():
        keys[~inside, 2] = grid_blocks(np.asarray(bounds, dtype=np.float64), block_size)[~inside]
    return _dense(keys)


def make_blocks(kind: str, bounds: np.ndarray, block_size: float = 0.0, image_paths: np.ndarray | None = None,
                region_index: np.ndarray | None = None) -> np.ndarray:
    """Block id per patch for `kind` grid / raster / region (see the module's docstring)."""
    if kind == "grid":
        return grid_blocks(bounds, block_size)
    if kind == "raster":
        if image_paths is None:
            raise InvalidParameterError("Blocks by raster need the patch layer's image_path field.")
        return raster_blocks(image_paths)
    if kind == "region":
        if region_index is None:
            raise InvalidParameterError("Blocks by region need a polygon layer of regions (REGIONS).")
        return region_blocks(region_index, bounds, block_size)
    raise InvalidParameterError(f"Unknown kind of blocks {kind!r}; choose one of {', '.join(BLOCK_KINDS)}.")
