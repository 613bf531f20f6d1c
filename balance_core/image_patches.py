"""Read image patches for the embedders: band choice, dataset-wide scaling, batched reads.

Scaling is decided once for the whole image (8-bit: /255, like the Hugging Face processors;
anything else: the 2nd–98th percentile of each band over the image), never per patch: a
per-patch min–max stretch makes a dark field and a bright field look the same.

Image nodata (NaN, ±inf, or a band's nodata value) becomes 0 after scaling, so no NaN ever
reaches an embedder (one NaN pixel makes a whole DINOv2 vector NaN, which then scored as the
most unique patch). Such patches are excluded by default (`excl_image_nodata`); this fill only
matters when that rule is off.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from .errors import InvalidParameterError, RasterReadError
from .progress import Progress, check_cancelled
from .raster_io import Window
from .rasters import READ_ERRORS, open_raster, read_window

PERCENTILES = (2.0, 98.0)
SCALING_SAMPLE_SIDE = 2048  # the percentiles are taken on a read decimated to at most this side


def choose_bands(requested: tuple[int, ...], band_count: int) -> tuple[int, int, int]:
    """Three 1-based bands: the requested ones, else the first three, else band 1 as grey."""
    bands = tuple(requested) or ((1, 2, 3) if band_count >= 3 else (1,))
    for band in bands:
        if band > band_count:
            raise InvalidParameterError(
                f"Band {band} was asked for, but the image has {band_count} band(s)."
            )
    return bands * 3 if len(bands) == 1 else bands  # type: ignore[return-value]


@dataclass(frozen=True)
class BandScaling:
    """Per-band linear map of raw values onto 0..1 (clipped)."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]
    nodata: tuple[float | None, float | None, float | None] = (None, None, None)  # each chosen band's own

    def key(self) -> str:
        """The cache's pre-processing key. It names the nodata fill only where the fill changes finite values
        (a nodata value above the band's low end), so caches of other images stay valid."""
        key = ",".join(f"{lo:.6g}:{hi:.6g}" for lo, hi in zip(self.low, self.high))
        changed = [v for v, lo in zip(self.nodata, self.low) if v is not None and math.isfinite(v) and v > lo]
        return key + (";nodata=0" if changed else "")

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) raw values → float32 in [0, 1]; nodata and non-finite pixels → 0."""
        low = np.asarray(self.low, dtype=np.float32)[None, :, None, None]
        span = (np.asarray(self.high, dtype=np.float32) - np.asarray(self.low, dtype=np.float32))
        scaled = (raw.astype(np.float32) - low) / span[None, :, None, None]
        holes = ~np.isfinite(scaled)
        for band, value in enumerate(self.nodata):
            if value is not None and math.isfinite(value):
                holes[:, band] |= raw[:, band] == _as_pixel(value, raw.dtype)
        scaled[holes] = 0.0
        return np.clip(scaled, 0.0, 1.0, out=scaled)


def _as_pixel(value: float, dtype: np.dtype):
    """`value` as a pixel of `dtype` for an equality test; a value the type cannot hold matches nothing."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        return dtype.type(value)
    info = np.iinfo(dtype)
    return int(value) if value == int(value) and info.min <= value <= info.max else np.nan


def band_scaling(path: str, bands: tuple[int, int, int]) -> BandScaling:
    with open_raster(path, "image") as ds:
        nodata = tuple(ds.nodatavals[b - 1] for b in bands)
        if ds.dtypes[0] == "uint8":
            return BandScaling((0.0, 0.0, 0.0), (255.0, 255.0, 255.0), nodata)  # type: ignore[arg-type]
        factor = max(1, int(np.ceil(max(ds.width, ds.height) / SCALING_SAMPLE_SIDE)))
        shape = (max(1, ds.height // factor), max(1, ds.width // factor))
        unique = sorted(set(bands))
        try:
            sample = ds.read(unique, Window(0, 0, ds.width, ds.height), out_shape=(len(unique), *shape), masked=True)
        except READ_ERRORS as exc:
            raise RasterReadError(f"Cannot read the image {path!r} to scale its bands: {exc}") from exc
        low, high = [], []
        for band in bands:
            values = sample[unique.index(band)].compressed().astype(np.float64)
            values = values[np.isfinite(values)]
            if values.size == 0:
                raise RasterReadError(f"Band {band} of the image {path!r} holds only nodata.")
            lo, hi = np.percentile(values, PERCENTILES)
            low.append(float(lo))
            high.append(float(hi) if hi > lo else float(lo) + 1.0)
        return BandScaling(tuple(low), tuple(high), nodata)  # type: ignore[arg-type]


def iter_patch_batches(
    path: str,
    row_off: np.ndarray,
    col_off: np.ndarray,
    size: int,
    bands: tuple[int, int, int],
    batch_size: int,
    progress: Progress,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (positions into the given arrays, raw patches (B, 3, size, size)).

    Patches sharing a row offset are cut from one read of that strip, so a row of patches
    costs one GDAL call, not one per patch.
    """
    unique = sorted(set(bands))
    pick = [unique.index(b) for b in bands]
    pending_pos: list[int] = []
    pending: list[np.ndarray] = []
    order = np.lexsort((col_off, row_off))
    if len(order) == 0:
        return
    with open_raster(path, "image") as ds:
        starts = np.flatnonzero(np.r_[True, np.diff(row_off[order]) != 0])
        for s, e in zip(starts, np.r_[starts[1:], len(order)]):
            check_cancelled(progress)
            group = order[s:e]
            r = int(row_off[group[0]])
            c0, c1 = int(col_off[group].min()), int(col_off[group].max()) + size
            strip = read_window(ds, Window(c0, r, c1 - c0, size), unique)[pick]
            for i in group:
                c = int(col_off[i]) - c0
                pending_pos.append(int(i))
                pending.append(strip[:, :, c:c + size])
                if len(pending) == batch_size:
                    yield np.asarray(pending_pos), np.stack(pending)
                    pending_pos, pending = [], []
        if pending:
            yield np.asarray(pending_pos), np.stack(pending)
