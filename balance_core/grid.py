"""The patch grid: full square windows only, footprints from the raster's own transform."""
from __future__ import annotations

import numpy as np
from affine import Affine

from .errors import InvalidParameterError
from .table import PatchTable


def window_offsets(length: int, size: int, stride: int) -> np.ndarray:
    """Offsets of full windows along one axis (a window never reaches past the edge)."""
    if size > length:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, length - size + 1, stride, dtype=np.int64)


def make_grid(width: int, height: int, patch_size: int, stride: int) -> PatchTable:
    """Row-major grid of windows; `patch_id` is the row number, stable for a given grid."""
    if patch_size > width or patch_size > height:
        raise InvalidParameterError(
            f"Patch size {patch_size} px is larger than the raster ({width}×{height} px); "
            f"use a patch size of at most {min(width, height)} px."
        )
    rows = window_offsets(height, patch_size, stride)
    cols = window_offsets(width, patch_size, stride)
    row_off = np.repeat(rows, len(cols))
    col_off = np.tile(cols, len(rows))
    n = len(row_off)
    return PatchTable(
        columns={
            "patch_id": np.arange(n, dtype=np.int64),
            "row_off": row_off,
            "col_off": col_off,
            "patch_size": np.full(n, patch_size, dtype=np.int64),
        }
    )


def footprints(transform: Affine, row_off: np.ndarray, col_off: np.ndarray, size: int) -> np.ndarray:
    """Closed rings (n, 5, 2) of patch corners in the raster's CRS (rotation-safe)."""
    corner_cols = np.array([0, size, size, 0, 0])
    corner_rows = np.array([0, 0, size, size, 0])
    cols = col_off[:, None] + corner_cols[None, :]
    rows = row_off[:, None] + corner_rows[None, :]
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    x = c + a * cols + b * rows
    y = f + d * cols + e * rows
    return np.stack([x, y], axis=-1)
