"""The patch grid: full square windows only, footprints from the raster's own transform."""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import numpy as np

from .errors import InvalidParameterError
from .table import PatchTable

SAMPLER_MAX_ROWS = 2**24  # torch.multinomial's limit, and so WeightedRandomSampler's
# Memory one patch takes through a run, measured in QGIS 3.22 (1.65 KB for the footprint geometry, the layer
# feature and the table row); an embedding adds up to a 1024-d float32 vector and its kNN working copies.
GRID_BYTES_PER_PATCH = 2048
EMBEDDING_BYTES_PER_PATCH = 8192


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


def footprints(transform, row_off: np.ndarray, col_off: np.ndarray, size: int) -> np.ndarray:
    """Closed rings (n, 5, 2) of patch corners in the raster's CRS (rotation-safe); `transform` has an affine
    transform's a..f (`raster_io.Transform`, `affine.Affine`)."""
    corner_cols = np.array([0, size, size, 0, 0])
    corner_rows = np.array([0, 0, size, size, 0])
    cols = col_off[:, None] + corner_cols[None, :]
    rows = row_off[:, None] + corner_rows[None, :]
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    x = c + a * cols + b * rows
    y = f + d * cols + e * rows
    return np.stack([x, y], axis=-1)


def grid_patch_count(width: int, height: int, patch_size: int, stride: int) -> int:
    """Number of full windows `make_grid` makes, by arithmetic (nothing is allocated)."""
    if patch_size > width or patch_size > height:
        return 0
    return ((width - patch_size) // stride + 1) * ((height - patch_size) // stride + 1)


def available_memory() -> int | None:
    """Bytes of memory this process can still use without swapping, where the system says; else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import ctypes

        class MemoryStatus(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong)] + [
                (name, ctypes.c_ulonglong) for name in ("total_phys", "avail_phys", "total_page", "avail_page",
                                                        "total_virtual", "avail_virtual", "avail_extended")]

        status = MemoryStatus()
        status.length = ctypes.sizeof(MemoryStatus)
        return int(status.avail_phys) if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)) else None
    try:  # macOS and other Unixes: physical memory (the free share is not reported the same way)
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_grid_size(sizes: Sequence[tuple[int, int]], patch_size: int, stride: int, *, with_embeddings: bool = False,
                    memory: int | None = -1) -> int:
    """The number of patches the grid over rasters of these (width, height) will hold; refused before anything is
    built when the sampler (2^24 rows) or this machine's memory cannot hold it. `memory` -1 = ask the system,
    None = no memory limit."""
    stride = stride or patch_size

    def count(size: int, step: int) -> int:
        return sum(grid_patch_count(w, h, size, step) for w, h in sizes)

    total = count(patch_size, stride)
    memory = available_memory() if memory == -1 else memory
    per_patch = GRID_BYTES_PER_PATCH + (EMBEDDING_BYTES_PER_PATCH if with_embeddings else 0)
    limit, reason = SAMPLER_MAX_ROWS, f"more than WeightedRandomSampler can draw from ({SAMPLER_MAX_ROWS:,} = 2^24 rows)"
    if memory is not None and memory // per_patch < limit:
        limit = max(int(memory // per_patch), 1)
        reason = (f"about {total * per_patch / 2**30:,.1f} GB in memory, more than the {memory / 2**30:,.1f} GB "
                  f"available here (room for about {limit:,} patches)")
    if total <= limit:
        return total
    longest = max(max(w, h) for w, h in sizes)

    def smallest(fits, start: int) -> int:
        """The smallest value ≥ start for which fits(value) holds (fits is monotone)."""
        lo, hi = start, max(start, longest)
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if fits(mid) else (mid + 1, hi)
        return lo

    fit_stride = smallest(lambda s: count(patch_size, s) <= limit, stride + 1)
    hint = f"use a stride of at least {fit_stride} px with patches of {patch_size} px"
    if stride == patch_size:  # tiled without overlap: a larger patch also fits
        fit_size = smallest(lambda p: count(p, p) <= limit, patch_size + 1)
        hint = f"use a patch size of at least {fit_size} px (no overlap), or {hint}"
    raise InvalidParameterError(
        f"The grid would hold {total:,} patches of {patch_size} px every {stride} px over {len(sizes)} raster "
        f"pair(s): {reason}. Nothing was computed; {hint}, or split the rasters into several runs.")
