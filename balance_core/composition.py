"""Per-patch class composition, read from the mask one strip of patch rows at a time.

One strip is `patch_size` full-width rows: it is read once, every class is counted per
pixel column (one vectorised pass per class present), and window sums come from a
cumulative sum along the columns. Memory is one strip plus the table, whatever the raster
size; there is never one file-open or one `np.unique` per patch.

The same pass measures what the exclusion rules need: nodata pixels on each patch border,
and, when asked, black image pixels on each patch border and image nodata anywhere in a patch.
A black pixel inside a patch is content (a shadow); an image nodata pixel (NaN, ±inf or the
band's nodata value, in any band, as QGIS draws it transparent) is a hole with no content at
all, so one such pixel anywhere in the window flags the patch: the embedder would otherwise see
invented values and call the hole "visually unique".
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from .config import BalanceConfig
from .progress import NullProgress, Progress, check_cancelled
from .rasters import RasterPair, open_raster, read_rows
from .table import PatchTable


def class_entropy(fractions: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of class fractions; 0 for a single class or none."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.0 - np.sum(np.where(fractions > 0, fractions * np.log(fractions), 0.0), axis=1)


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


def column_sums(flag: np.ndarray) -> np.ndarray:
    """Set pixels per column of a 2-D boolean strip.

    Reducing the boolean view as uint8 into uint16 sums is ~3× faster than an int64 sum.
    """
    acc = np.uint16 if flag.shape[0] < 1 << 16 else np.int64
    return np.add.reduce(flag.view(np.uint8), axis=0, dtype=acc).astype(np.int64)


def column_counts(strip: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Pixels equal to each of `values` per column of a 2-D strip: (width, len(values)) int64."""
    out = np.empty((strip.shape[1], len(values)), dtype=np.int64)
    for j, value in enumerate(values):
        out[:, j] = column_sums(strip == value)
    return out


def window_sums(per_column: np.ndarray, col_offs: np.ndarray, size: int) -> np.ndarray:
    """Sum of `per_column` rows over each window [col, col + size) via one cumulative sum."""
    csum = np.zeros((per_column.shape[0] + 1,) + per_column.shape[1:], dtype=np.int64)
    np.cumsum(per_column, axis=0, out=csum[1:])
    return csum[col_offs + size] - csum[col_offs]


EDGE_TOP, EDGE_BOTTOM, EDGE_LEFT, EDGE_RIGHT = 1, 2, 4, 8


def border_edges(flag: np.ndarray, col_offs: np.ndarray, size: int) -> np.ndarray:
    """Which edges of each window of a (size, width) boolean strip hold a set pixel, as a bit mask.

    Kept per edge (not just "any") so that the border of a patch k times larger is known from the
    small patches it is made of: its top edge is the top edges of its top row of small patches, etc.
    """
    return edges_from_lines(flag[0], flag[-1], flag.any(axis=0), col_offs, size)


def edges_from_lines(top: np.ndarray, bottom: np.ndarray, column_any: np.ndarray, col_offs: np.ndarray,
                     size: int) -> np.ndarray:
    """`border_edges` from what it needs of the strip: its first and last rows and, per column, whether any
    pixel is set (only the windows' first and last columns are looked at)."""
    rows_hit = window_sums(np.stack([top, bottom], axis=1).astype(np.int64), col_offs, size) > 0
    return (rows_hit[:, 0] * EDGE_TOP + rows_hit[:, 1] * EDGE_BOTTOM + column_any[col_offs] * EDGE_LEFT
            + column_any[col_offs + size - 1] * EDGE_RIGHT).astype(np.uint8)


def black_border_edges(image: np.ndarray, tolerance: float, col_offs: np.ndarray, size: int) -> np.ndarray:
    """`border_edges` of the black pixels (every band ≤ tolerance) of a (bands, size, width) image strip.

    Only the pixels on a window border are tested: the strip's first and last rows and the windows' first
    and last columns (for 256 px patches, 1 % of the strip instead of all of it)."""
    def black(pixels: np.ndarray) -> np.ndarray:
        return np.all(pixels <= tolerance, axis=0)

    column_any = np.zeros(image.shape[2], dtype=bool)
    first, n = (int(col_offs[0]), len(col_offs)) if len(col_offs) else (0, 0)
    if n and np.array_equal(col_offs, first + size * np.arange(n)):  # tiled: the edge columns are two strided views
        column_any[first:first + n * size:size] = black(image[:, :, first:first + n * size:size]).any(axis=0)
        column_any[first + size - 1:first + n * size:size] = black(
            image[:, :, first + size - 1:first + n * size:size]).any(axis=0)
    else:
        edges = np.unique(np.concatenate([col_offs, col_offs + size - 1]))
        column_any[edges] = black(image[:, :, edges]).any(axis=0)
    return edges_from_lines(black(image[:, 0, :]), black(image[:, -1, :]), column_any, col_offs, size)


def border_hits(flag: np.ndarray, col_offs: np.ndarray, size: int) -> np.ndarray:
    """Whether any pixel on the border of each window of a (size, width) boolean strip is set."""
    return border_edges(flag, col_offs, size) > 0


def distinct_values(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values; a histogram when their range is small (≈3× faster than a sort)."""
    if not values.size:
        return values
    lo, hi = int(values.min()), int(values.max())
    if hi - lo <= 1 << 16:
        return np.flatnonzero(np.bincount((values - lo) if lo else values, minlength=hi - lo + 1)) + lo
    return np.unique(values)


def count_classes(
    strip: np.ndarray, known: np.ndarray, nodata: int | None, nodata_cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column counts of every class in the strip, discovering values unseen in earlier strips.

    Classes rarely change between strips, so the known ones are counted first; only when some
    pixels are left over (neither a known class nor nodata) are they searched for new values.
    Returns the (possibly extended) known values and the (width, n_known) counts.
    """
    counts = column_counts(strip, known)
    if (counts.sum(axis=1) + nodata_cols < strip.shape[0]).any():
        leftover = ~np.isin(strip, known)
        if nodata is not None:
            leftover &= strip != nodata
        new = distinct_values(strip[leftover])
        known = np.concatenate([known, new.astype(np.int64)])
        counts = np.hstack([counts, column_counts(strip, new)])
    return known, counts


def strip_counts(strip: np.ndarray, known: np.ndarray, nodata: int | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-column class counts, nodata counts and nodata border flags of one strip, counting pixel by pixel
    only in the columns that hold more than one value.

    Most columns of a strip of a label map hold one value top to bottom (background, a field, nodata):
    one min and one max pass find them, and their counts are the strip height. Only the other columns are
    copied out and counted class by class (`count_classes`); when they are most of the strip, every column is. Returns the (possibly extended) known values,
    the (width, n_known) counts, the nodata pixels per column and the nodata flags of the first and last rows.
    """
    height, width = strip.shape
    low, high = np.minimum.reduce(strip, axis=0), np.maximum.reduce(strip, axis=0)
    mixed = np.flatnonzero(low != high)
    pure = np.flatnonzero(low == high)
    pure_values = low[pure].astype(np.int64)
    nd_cols = np.zeros(width, dtype=np.int64)
    if nodata is not None:
        nd_cols[pure[pure_values == nodata]] = height
        pure, pure_values = pure[pure_values != nodata], pure_values[pure_values != nodata]
    seen = set(known.tolist())
    unseen = [v for v in distinct_values(pure_values).tolist() if v not in seen]
    if unseen:
        known = np.concatenate([known, np.asarray(unseen, dtype=np.int64)])
    if 2 * len(mixed) > width:  # mostly mixed (dense labels): counting every column beats copying most of them
        mixed = np.arange(width)
    mixed_known = known
    if len(mixed) < width:
        part = np.take(strip, mixed, axis=1)
        if len(mixed):  # only values some mixed column spans can be in it
            lo, hi = int(low[mixed].min()), int(high[mixed].max())
            mixed_known = known[(known >= lo) & (known <= hi)]
    else:
        part = strip
    if nodata is not None and len(mixed):
        nd_cols[mixed] = column_sums(part == nodata)
    counted, mixed_counts = count_classes(part, mixed_known, nodata, nd_cols[mixed])
    known = np.concatenate([known, counted[len(mixed_known):]])
    counts = np.zeros((width, len(known)), dtype=np.int64)
    order = np.argsort(known, kind="stable")
    index = order[np.searchsorted(known[order], counted)]
    counts[np.ix_(mixed, index)] = mixed_counts
    counts[pure, order[np.searchsorted(known[order], pure_values)]] = height
    if nodata is not None:
        top, bottom = strip[0] == nodata, strip[-1] == nodata
    else:
        top = bottom = np.zeros(width, dtype=bool)
    return known, counts, nd_cols, np.stack([top, bottom])


def image_nodata_values(image_ds) -> tuple[float | None, ...] | None:
    """Per-band nodata values of the image, or None when no pixel can be nodata (integer bands without one)."""
    floating = np.issubdtype(np.dtype(image_ds.dtypes[0]), np.floating)
    values = tuple(image_ds.nodatavals)
    return values if floating or any(v is not None for v in values) else None


def image_nodata_pixels(image: np.ndarray, nodata: tuple[float | None, ...]) -> np.ndarray:
    """(H, W) pixels that are nodata in any band of a (bands, H, W) strip: non-finite, or the band's nodata value."""
    out = np.zeros(image.shape[1:], dtype=bool)
    floating = np.issubdtype(image.dtype, np.floating)
    for band, value in zip(image, nodata):
        if floating:
            out |= ~np.isfinite(band)
        if value is None or not math.isfinite(value):
            continue  # a NaN nodata value is covered by the finiteness test
        if floating:
            out |= band == band.dtype.type(value)
        elif value == int(value) and np.iinfo(band.dtype).min <= value <= np.iinfo(band.dtype).max:
            out |= band == int(value)  # a value the band cannot hold marks no pixel (no wrap-around)
    return out


def read_strips(mask_ds, image_ds, offsets: np.ndarray, size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Mask (and image) strips in order, one at a time. Several rasters, or bands of one raster, are read in
    parallel by `dataset.per_pair`; a read-ahead thread per strip cost more than it saved (measured).

    Blocks above the next strip are dropped from GDAL's cache once no later strip can use them: kept, a
    4096² RGB sheet stayed decoded in the cache (50 MB per thread) until closed, a large raster up to the cap."""
    datasets = [ds for ds in (mask_ds, image_ds) if ds is not None]
    for i, row in enumerate(offsets):
        mask = read_rows(mask_ds, int(row), size, 1)
        yield mask, read_rows(image_ds, int(row), size) if image_ds is not None else None
        following = int(offsets[i + 1]) if i + 1 < len(offsets) else None
        for ds in datasets:
            if following is None or following // ds.block_height > (int(row) + size - 1) // ds.block_height:
                ds.drop_cached_blocks()


def measure_composition(
    table: PatchTable, pair: RasterPair, config: BalanceConfig, progress: Progress, warn: bool = True
) -> PatchTable:
    """Add class counts, `class_entropy`, `nodata_ratio` and the border measurements.

    `warn=False` leaves the warnings about the whole raster (`warn_about_pair`) to the caller: when a raster
    is measured in bands, each band alone would warn about its own part."""
    size = config.patch_size
    nodata = resolve_nodata(pair, config, progress)
    row_off, col_off = table["row_off"], table["col_off"]
    starts = np.flatnonzero(np.r_[True, row_off[1:] != row_off[:-1]])
    ends = np.r_[starts[1:], len(row_off)]

    known = np.zeros(0, dtype=np.int64)  # class values seen so far, in order of discovery
    strip_results: list[tuple[slice, np.ndarray, np.ndarray]] = []
    nodata_px = np.zeros(len(table), dtype=np.int64)
    nodata_edges = np.zeros(len(table), dtype=np.uint8)  # border_edges bit masks
    black_edges = np.zeros(len(table), dtype=np.uint8)
    image_nodata = np.zeros(len(table), dtype=bool)

    mask_ds = open_raster(pair.mask_path, "mask")
    reads_image = config.exclude_black_border or config.exclude_image_nodata
    image_ds = open_raster(pair.image_path, "image") if reads_image else None
    image_nd = image_nodata_values(image_ds) if image_ds is not None and config.exclude_image_nodata else None
    if image_ds is not None and not config.exclude_black_border and image_nd is None:
        image_ds.close()  # integer image without a nodata value: nothing to look for
        image_ds = None
    strips = read_strips(mask_ds, image_ds, row_off[starts], size)
    try:
        for i, (start, end) in enumerate(zip(starts, ends)):
            check_cancelled(progress)
            rows = slice(start, end)
            cols = col_off[rows]
            strip, image = next(strips)
            known, col_counts, nd_cols, nd_rows = strip_counts(strip, known, nodata)
            if nodata is not None:
                nodata_px[rows] = window_sums(nd_cols, cols, size)
                nodata_edges[rows] = edges_from_lines(nd_rows[0], nd_rows[1], nd_cols > 0, cols, size)
            strip_results.append((rows, known, window_sums(col_counts, cols, size)))
            if image is not None and config.exclude_black_border:
                black_edges[rows] = black_border_edges(image, config.black_tolerance, cols, size)
            if image is not None and image_nd is not None:
                holes = column_sums(image_nodata_pixels(image, image_nd))
                image_nodata[rows] = window_sums(holes, cols, size) > 0
            progress.set_fraction((i + 1) / len(starts))
    finally:
        strips.close()  # waits for the worker before the datasets close
        mask_ds.close()
        if image_ds is not None:
            image_ds.close()

    class_values = np.sort(known)
    class_counts = np.zeros((len(table), len(class_values)), dtype=np.int64)
    for rows, values, counts in strip_results:
        class_counts[rows, np.searchsorted(class_values, values)] = counts
    present = class_counts.sum(axis=0) > 0  # a value seen only outside every window is no class
    class_values, class_counts = class_values[present], class_counts[:, present]

    total = size * size
    out = table.with_classes(class_values, class_counts)
    out = out.with_columns(
        class_entropy=class_entropy(out.fractions()),
        nodata_ratio=nodata_px / total,
        border_nodata=nodata_edges > 0,
        border_black=black_edges > 0,
        border_nodata_edges=nodata_edges,
        border_black_edges=black_edges,
        image_nodata=image_nodata,
    )
    if warn:
        warn_about_pair(out, pair, config, progress)
    return out


def warn_about_pair(table: PatchTable, pair: RasterPair, config: BalanceConfig, progress: Progress) -> None:
    """What the measured rows of one raster pair suggest is wrong with its settings (nodata that looks like the
    background class, an image nodata value that flags most patches)."""
    labelled = table["patch_size"].astype(np.int64) ** 2
    nodata_px = np.rint(table["nodata_ratio"] * labelled).astype(np.int64)
    _warn_if_nodata_is_background(resolve_nodata(pair, config, NullProgress()), nodata_px, table.class_counts,
                                  table.class_values, progress)
    flagged = table["image_nodata"]
    if config.exclude_image_nodata and len(flagged) and flagged.mean() > 0.5:
        image_ds = open_raster(pair.image_path, "image")
        try:
            values = image_nodata_values(image_ds)
        finally:
            image_ds.close()
        _warn_if_image_nodata_is_common(pair, values, flagged, progress)


def _warn_if_image_nodata_is_common(pair: RasterPair, values, flagged: np.ndarray, progress: Progress) -> None:
    """An integer nodata value (e.g. 0 in 8-bit imagery) may also be a real pixel value: say so when it flags
    most patches."""
    if values is None or not len(flagged) or flagged.mean() <= 0.5:
        return
    declared = sorted({v for v in values if v is not None and math.isfinite(v)})
    if not declared:
        return
    progress.warning(
        f"{int(flagged.sum())} of {len(flagged)} patches of {pair.image_path!r} hold image nodata "
        f"(the value {', '.join(f'{v:g}' for v in declared)} in some band, or NaN) and are excluded. If that value "
        "is also a real pixel value of this imagery, untick 'Exclude patches with image nodata' (EXCLUDE_IMAGE_NODATA)."
    )


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
