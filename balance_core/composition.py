"""Per-patch class composition, read from the mask one strip of patch rows at a time.

One strip is `patch_size` full-width rows: it is read once, every class is counted per
pixel column (one vectorised pass per class present), and window sums come from a
cumulative sum along the columns. Memory is one strip plus the table, whatever the raster
size; there is never one file-open or one `np.unique` per patch.

The same pass measures what the exclusion rules need: nodata pixels on each patch border
and, when asked, black image pixels on each patch border.
"""
from __future__ import annotations

import math

import numpy as np

from .config import BalanceConfig
from .progress import Progress, check_cancelled
from .rasters import RasterPair, open_raster, read_rows
from .table import PatchTable


def resolve_nodata(pair: RasterPair, config: BalanceConfig, progress: Progress) -> int | None:
    """The mask value meaning "no label": explicit setting, else the band's, unless ignored."""
    if config.nodata is not None:
        return int(config.nodata)
    if config.ignore_band_nodata or pair.mask_nodata is None:
        return None
    value = pair.mask_nodata
    if not math.isfinite(value) or value != int(value):
        progress.warning(
            f"The mask band declares nodata = {value}, which no integer pixel can hold; it is ignored."
        )
        return None
    return int(value)


def column_counts(strip: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Pixels equal to each of `values` per column of a 2-D strip: (width, len(values)) int64."""
    out = np.empty((strip.shape[1], len(values)), dtype=np.int64)
    for j, value in enumerate(values):
        np.sum(strip == value, axis=0, out=out[:, j])
    return out


def window_sums(per_column: np.ndarray, col_offs: np.ndarray, size: int) -> np.ndarray:
    """Sum of `per_column` rows over each window [col, col + size) via one cumulative sum."""
    csum = np.zeros((per_column.shape[0] + 1,) + per_column.shape[1:], dtype=np.int64)
    np.cumsum(per_column, axis=0, out=csum[1:])
    return csum[col_offs + size] - csum[col_offs]


def border_hits(flag: np.ndarray, col_offs: np.ndarray, size: int) -> np.ndarray:
    """Whether any pixel on the border of each window of a (size, width) boolean strip is set."""
    rows_hit = window_sums(np.stack([flag[0], flag[-1]], axis=1).astype(np.int64), col_offs, size)
    col_any = flag.any(axis=0)
    return (rows_hit.sum(axis=1) > 0) | col_any[col_offs] | col_any[col_offs + size - 1]


def strip_values(strip: np.ndarray) -> np.ndarray:
    """Distinct values of a strip, via a histogram when the value range allows it."""
    lo, hi = int(strip.min()), int(strip.max())
    if hi - lo <= 1 << 16:
        hist = np.bincount((strip.ravel() - lo) if lo else strip.ravel(), minlength=hi - lo + 1)
        return np.flatnonzero(hist) + lo
    return np.unique(strip)


def measure_composition(
    table: PatchTable, pair: RasterPair, config: BalanceConfig, progress: Progress
) -> PatchTable:
    """Add class counts, `class_entropy`, `nodata_ratio` and the border measurements."""
    size = config.patch_size
    nodata = resolve_nodata(pair, config, progress)
    row_off, col_off = table["row_off"], table["col_off"]
    starts = np.flatnonzero(np.r_[True, row_off[1:] != row_off[:-1]])
    ends = np.r_[starts[1:], len(row_off)]

    classes: dict[int, int] = {}
    strip_results: list[tuple[slice, np.ndarray, np.ndarray]] = []
    nodata_px = np.zeros(len(table), dtype=np.int64)
    border_nodata = np.zeros(len(table), dtype=bool)
    black_border = np.zeros(len(table), dtype=bool)

    mask_ds = open_raster(pair.mask_path, "mask")
    image_ds = open_raster(pair.image_path, "image") if config.exclude_black_border else None
    try:
        for i, (start, end) in enumerate(zip(starts, ends)):
            check_cancelled(progress)
            rows = slice(start, end)
            cols = col_off[rows]
            strip = read_rows(mask_ds, int(row_off[start]), size, 1)
            values = strip_values(strip)
            if nodata is not None:
                values = values[values != nodata]
                is_nodata = strip == nodata
                nd_cols = is_nodata.sum(axis=0)
                nodata_px[rows] = window_sums(nd_cols, cols, size)
                border_nodata[rows] = border_hits(is_nodata, cols, size)
            counts = window_sums(column_counts(strip, values), cols, size)
            for value in values:
                classes.setdefault(int(value), len(classes))
            strip_results.append((rows, values, counts))
            if image_ds is not None:
                image = read_rows(image_ds, int(row_off[start]), size)
                black = np.all(image <= config.black_tolerance, axis=0)
                black_border[rows] = border_hits(black, cols, size)
            progress.set_fraction((i + 1) / len(starts))
    finally:
        mask_ds.close()
        if image_ds is not None:
            image_ds.close()

    class_values = np.array(sorted(classes), dtype=np.int64)
    order = {int(v): j for j, v in enumerate(class_values)}
    class_counts = np.zeros((len(table), len(class_values)), dtype=np.int64)
    for rows, values, counts in strip_results:
        class_counts[rows, [order[int(v)] for v in values]] = counts

    total = size * size
    out = table.with_classes(class_values, class_counts)
    fractions = out.fractions()
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = 0.0 - np.sum(np.where(fractions > 0, fractions * np.log(fractions), 0.0), axis=1)
    out = out.with_columns(
        class_entropy=entropy,
        nodata_ratio=nodata_px / total,
        border_nodata=border_nodata,
        border_black=black_border,
    )
    _warn_if_nodata_is_background(nodata, nodata_px, class_counts, class_values, progress)
    return out


def _warn_if_nodata_is_background(nodata, nodata_px, class_counts, class_values, progress) -> None:
    if nodata is None or not len(class_values):
        return
    nd_total = int(nodata_px.sum())
    per_class = class_counts.sum(axis=0)
    if nd_total > int(per_class.max()):
        share = nd_total / (nd_total + int(per_class.sum()))
        progress.warning(
            f"The mask's nodata value {nodata} is its most frequent value ({share:.1%} of pixels): it may "
            "be the background class wrongly declared as nodata. If so, tick 'Ignore the band's nodata "
            "value' (IGNORE_BAND_NODATA) so that it counts as a class."
        )
