"""A dataset of image/mask pairs: one patch table over all of them.

Patch ids run over the whole dataset, so they are unique across rasters. The per-raster
stages (composition, embeddings) run pair by pair on the rows of that pair; everything
after them (clusters, kNN, ranks) sees the whole table at once.
"""
from __future__ import annotations

import os
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from functools import partial
from typing import Any

import numpy as np

from . import embedding_cache
from .composition import measure_composition, warn_about_pair
from .config import BalanceConfig, cpu_count
from .embeddings import Embedder, compute_embeddings, make_embedder
from .errors import (
    EmbedderError,
    GridMismatchError,
    InvalidParameterError,
    RasterReadError,
)
from .grid import check_grid_size, footprints, make_grid
from .patch_records import describe_ids
from .progress import Progress, SubProgress, check_cancelled
from .raster_io import same_crs
from .rasters import RasterPair, open_pair, open_raster
from .table import PatchTable


class Dataset:
    """Opened, checked pairs, looked up by their (image_path, mask_path)."""

    def __init__(self, pairs: Sequence[RasterPair]) -> None:
        self.pairs = list(pairs)
        self._by_paths = {(p.image_path, p.mask_path): p for p in self.pairs}

    def __getitem__(self, paths: tuple[str, str]) -> RasterPair:
        return self._by_paths[paths]

    @property
    def crs_wkt(self) -> str:
        return self.pairs[0].crs_wkt if self.pairs else ""


def open_dataset(paths: Sequence[tuple[str, str]], progress: Progress | None = None) -> Dataset:
    """Open every pair (each image/mask on one grid) and check that all share one CRS."""
    if not paths:
        raise InvalidParameterError("No image/mask pair given.")
    def open_one(paths: tuple[str, str]) -> RasterPair:
        if progress is not None:
            check_cancelled(progress)
        return open_pair(*paths)

    unique = list(dict.fromkeys(paths))  # a pair listed twice is used once
    if len(unique) < 8:
        pairs = [open_one(p) for p in unique]
    else:  # hundreds of map sheets: GDAL reads their headers in parallel; the first failing pair is reported
        with ThreadPoolExecutor(max_workers=cpu_count(), thread_name_prefix="open-pair") as pool:
            pairs = list(pool.map(open_one, unique))
    if progress is not None:
        _report_notes(pairs, progress)
    first = pairs[0]
    for pair in pairs[1:]:
        if not _same_crs(pair.crs_wkt, first.crs_wkt):
            raise GridMismatchError(
                f"All rasters must share one CRS: {pair.image_path!r} is not in the CRS of {first.image_path!r}. "
                "Reproject the odd ones (image and mask together), or run them as separate datasets."
            )
    return Dataset(pairs)


def _report_notes(pairs: Sequence[RasterPair], progress: Progress, limit: int = 5) -> None:
    """The pairs' warnings (e.g. image and mask seem swapped), a few in full and then a count."""
    notes = [note for pair in pairs for note in pair.notes]
    for note in notes[:limit]:
        progress.warning(note)
    if len(notes) > limit:
        progress.warning(f"… and {len(notes) - limit} more such warnings about other raster pairs.")
    bare = [pair.image_path for pair in pairs if not pair.georeferenced]
    if bare:
        progress.info(f"{len(bare)} raster pair(s) have no georeferencing (e.g. {bare[0]!r}): footprints are in pixel "
                      "units where QGIS draws such a raster (x = column, y = −row).")


def _same_crs(a: str, b: str) -> bool:
    return same_crs(a, b)


def dataset_grid(dataset: Dataset, config: BalanceConfig) -> PatchTable:
    """The patch grid of every pair, in pair order; `patch_id` numbers them all."""
    check_grid_size([(p.width, p.height) for p in dataset.pairs], config.patch_size, config.effective_stride,
                    with_embeddings=config.needs_uniqueness)  # refused before the grid is built
    parts = []
    for pair in dataset.pairs:
        if config.patch_size > min(pair.width, pair.height) and len(dataset.pairs) > 1:
            raise InvalidParameterError(
                f"Patch size {config.patch_size} px is larger than {pair.image_path!r} "
                f"({pair.width}×{pair.height} px); use at most {min(p.width for p in dataset.pairs)} px "
                "or leave that raster out."
            )
        grid = make_grid(pair.width, pair.height, config.patch_size, config.effective_stride)
        parts.append(grid.with_columns(
            image_path=np.full(len(grid), pair.image_path, dtype=object),
            mask_path=np.full(len(grid), pair.mask_path, dtype=object),
        ))
    columns = {name: np.concatenate([p[name] for p in parts]) for name in parts[0].columns}
    columns["patch_id"] = np.arange(len(columns["patch_id"]), dtype=np.int64)
    return PatchTable(columns)


def pair_groups(table: PatchTable) -> list[tuple[tuple[str, str], np.ndarray]]:
    """Row indices of each (image_path, mask_path), in first-seen order, sorted by window within."""
    if not len(table):
        return []
    seen: dict[tuple[str, str], int] = {}  # a dict, not np.unique over joined strings: 25× faster at 160k rows
    group = np.fromiter((seen.setdefault(key, len(seen)) for key in zip(table["image_path"].tolist(),
                                                                         table["mask_path"].tolist())),
                        dtype=np.int64, count=len(table))  # groups numbered in first-seen order
    order = np.lexsort((table["col_off"], table["row_off"], group))
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    return [((str(table["image_path"][rows[0]]), str(table["mask_path"][rows[0]])), rows)
            for rows in np.split(order, bounds)]


def window_groups(table: PatchTable) -> list[tuple[tuple[str, str], int, np.ndarray]]:
    """Row indices of each (image_path, mask_path) and patch size, pairs in first-seen order, sizes ascending,
    sorted by window within: the per-raster stages read one patch size at a time."""
    out = []
    for key, rows in pair_groups(table):
        sizes = table["patch_size"][rows]
        for size in np.unique(sizes):
            out.append((key, int(size), rows[sizes == size]))
    return out


def check_windows(table: PatchTable, dataset: Dataset) -> None:
    """Every window lies inside its raster (edited layers and patch records may not). Patches may differ in size:
    each is measured over its own window (the reference's patch records mix sizes in one run)."""
    for key, rows in pair_groups(table):
        pair = dataset[key]
        _refuse_outside(table, rows, pair.image_path, pair.width, pair.height)


def _refuse_outside(table: PatchTable, rows: np.ndarray, path: str, width: int, height: int) -> None:
    """Refuse the windows of these rows that reach outside a width × height raster, naming the patches."""
    r, c, size = table["row_off"][rows], table["col_off"][rows], table["patch_size"][rows]
    bad = rows[(r < 0) | (c < 0) | (size < 1) | (r + size > height) | (c + size > width)]
    if len(bad):
        i = bad[0]
        raise InvalidParameterError(
            f"Patch {int(table['patch_id'][i])} (row_off {int(table['row_off'][i])}, col_off "
            f"{int(table['col_off'][i])}, size {int(table['patch_size'][i])}) reaches outside {path!r} "
            f"({width}×{height} px); {len(bad)} patch(es) in all ({describe_ids(table['patch_id'][bad])}). "
            "Were the window fields edited? Delete those patches or make the grid again."
        )


def check_record_windows(table: PatchTable, progress: Progress) -> None:
    """The windows of a patch layer against its rasters' headers (no pixel is read), for steps that do not read
    the rasters (the weights): a window outside its raster would be a training sample that cannot be read.

    A raster that cannot be opened (moved, another machine's path) is a warning, not an error: the weights
    come from the layer's fields alone.
    """
    if not all(name in table for name in ("image_path", "mask_path", "row_off", "col_off", "patch_size")):
        return  # a source without windows (e.g. a dataset_explorer table): nothing to check
    unreadable: list[str] = []
    for (image, mask), rows in pair_groups(table):
        extents = []
        for path, role in ((image, "image"), (mask, "mask")):
            if not path:
                continue
            try:
                with open_raster(path, role) as ds:
                    extents.append((path, ds.width, ds.height))
            except RasterReadError:
                unreadable.append(path)
        for path, width, height in extents:
            _refuse_outside(table, rows, path, width, height)
    if unreadable:
        missing = [p for p in unreadable if not os.path.exists(p)]
        first = missing[0] if missing else unreadable[0]
        progress.warning(
            f"{len(unreadable)} raster(s) named by the patch layer cannot be opened (e.g. {first!r}"
            f"{': no such file' if missing else ''}): the windows of their patches were not checked, and a training "
            "run reading the CSV will not find them at that path either."
        )


def dataset_footprints(table: PatchTable, dataset: Dataset) -> np.ndarray:
    """(n, 5, 2) closed rings of every patch, each from its own raster's transform."""
    rings = np.zeros((len(table), 5, 2), dtype=np.float64)
    for key, size, rows in window_groups(table):
        rings[rows] = footprints(dataset[key].transform, table["row_off"][rows], table["col_off"][rows], size)
    return rings


CLUSTER_TASK_PATCHES = 4096  # at most this many patches per cluster task (one 4096² sheet at 64 px)
PairStage = Callable[[PatchTable, RasterPair, Progress], PatchTable]


def per_pair(table: PatchTable, dataset: Dataset, stage: PairStage, progress: Progress,
             workers: int = 1, scheduler: str | None = None) -> list[tuple[np.ndarray, Any]]:
    """Run a per-raster stage on the rows of each pair and patch size (one size per call: the stage reads the
    size from its rows); returns (row indices, stage output) per group, in group order.

    With `workers` > 1 the groups run in that many threads (GDAL releases the GIL while it reads and
    decodes); each group opens its own datasets, so no dataset is shared between threads. With a Dask
    `scheduler` address the groups are tasks on that cluster (dask_run.py): `stage` must then be picklable."""
    groups = window_groups(table)
    total = max(len(table), 1)
    if scheduler:
        from .dask_run import (
            run_on_cluster,  # distributed is only needed when a cluster is used
        )

        groups = [(key, size, part) for key, size, rows in groups  # a large raster: one task per band of strips
                  for part in _strip_bands(table["row_off"][rows], rows, -(-len(rows) // CLUSTER_TASK_PATCHES))]
        results = run_on_cluster(scheduler, stage, [(table.take(rows), dataset[key]) for key, _, rows in groups],
                                 [len(rows) / total for _, _, rows in groups], progress)
        return [(rows, result) for (_, _, rows), result in zip(groups, results)]
    if workers > 1 and len(groups) < workers:  # few rasters: cut each into bands of whole strips, one per thread
        groups = [(key, size, part) for key, size, rows in groups
                  for part in _strip_bands(table["row_off"][rows], rows, -(-workers // len(groups)))]
    if workers <= 1 or len(groups) <= 1:
        done, out = 0, []
        for key, _, rows in groups:
            sub = SubProgress(progress, done / total, (done + len(rows)) / total)
            out.append((rows, stage(table.take(rows), dataset[key], sub)))
            done += len(rows)
        return out
    shared = _SharedProgress(progress, [len(rows) / total for _, _, rows in groups])
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pair-stage") as pool:
        futures = [pool.submit(stage, table.take(rows), dataset[key], shared.part(i))
                   for i, (key, _, rows) in enumerate(groups)]
        try:
            shared.relay_until_done(futures)
            results = [f.result() for f in futures]
        except BaseException:
            shared.stop()  # the other groups stop at their next cancellation check
            raise
    return [(rows, result) for (_, _, rows), result in zip(groups, results)]


def _strip_bands(row_off: np.ndarray, rows: np.ndarray, parts: int) -> list[np.ndarray]:
    """`rows` (sorted by row_off) cut into at most `parts` bands of about equal size, never inside one strip
    (windows of one row_off are counted from one read of that strip)."""
    starts = np.flatnonzero(np.r_[True, row_off[1:] != row_off[:-1]])
    if parts <= 1 or len(starts) <= 1:
        return [rows]
    at = np.unique(np.searchsorted(starts, np.linspace(0, len(rows), parts + 1)[1:-1], side="left"))
    cuts = starts[at[at < len(starts)]]  # more parts than strips: one strip each
    cuts = cuts[(cuts > 0) & (cuts < len(rows))]
    return [part for part in np.split(rows, cuts) if len(part)]


class _SharedProgress:
    """One progress fed by stages running in threads: each reports its own fraction, weighted by its share of
    the rows; messages reach the parent once each (every group of a raster would repeat the same warning).

    The threads only queue their reports; the thread that started them relays them to the parent and asks it
    whether the run is cancelled, so a QGIS feedback object is only ever called from the algorithm's thread."""

    def __init__(self, parent: Progress, shares: Sequence[float]) -> None:
        self.parent, self.shares = parent, list(shares)
        self.fractions = [0.0] * len(self.shares)
        self.reports: queue.SimpleQueue = queue.SimpleQueue()
        self.seen: set[tuple[str, str]] = set()
        self.stopped = False

    def part(self, index: int) -> "_PartProgress":
        return _PartProgress(self, index)

    def stop(self) -> None:
        self.stopped = True

    def relay_until_done(self, futures) -> None:
        """Pass the threads' reports on until every future is done; a cancel stops them."""
        while True:
            try:
                self._relay(self.reports.get(timeout=0.05))
            except queue.Empty:
                if all(f.done() for f in futures):
                    break
            if self.parent.cancelled():
                self.stop()
        while not self.reports.empty():
            self._relay(self.reports.get())

    def _relay(self, report: tuple) -> None:
        kind, value = report
        if kind == "fraction":
            index, fraction = value
            self.fractions[index] = min(max(fraction, 0.0), 1.0)
            self.parent.set_fraction(sum(s * f for s, f in zip(self.shares, self.fractions)))
        elif (kind, value) not in self.seen:
            self.seen.add((kind, value))
            (self.parent.warning if kind == "warning" else self.parent.info)(value)


class _PartProgress:
    def __init__(self, shared: _SharedProgress, index: int) -> None:
        self.shared, self.index = shared, index

    def set_fraction(self, fraction: float) -> None:
        self.shared.reports.put(("fraction", (self.index, fraction)))

    def cancelled(self) -> bool:
        return self.shared.stopped

    def info(self, message: str) -> None:
        self.shared.reports.put(("info", message))

    def warning(self, message: str) -> None:
        self.shared.reports.put(("warning", message))


def measure_dataset_composition(
    table: PatchTable, dataset: Dataset, config: BalanceConfig, progress: Progress
) -> PatchTable:
    """Class counts and border measurements of every patch; classes are the union over all masks."""
    parts = per_pair(table, dataset, partial(_measure_rows, config), progress, config.thread_count, config.scheduler)
    if config.scheduler:
        parts = [(rows, measured) for rows, (measured, _) in parts]
    class_values = np.unique(np.concatenate([t.class_values for _, t in parts])) if parts else np.zeros(0, np.int64)
    counts = np.zeros((len(table), len(class_values)), dtype=np.int64)
    new_columns = ("class_entropy", "nodata_ratio", "border_nodata", "border_black", "image_nodata",
                   "border_nodata_edges", "border_black_edges")
    columns = {name: np.zeros(len(table), dtype=parts[0][1][name].dtype) for name in new_columns}
    for rows, measured in parts:
        counts[np.ix_(rows, np.searchsorted(class_values, measured.class_values))] = measured.class_counts
        for name in new_columns:
            columns[name][rows] = measured[name]
    out = table.with_classes(class_values, counts).with_columns(**columns)
    for key, _, rows in window_groups(out):  # once per raster, even when it was measured in bands
        warn_about_pair(out.take(rows), dataset[key], _with_table_patch_size(config, out.take(rows[:1])), progress)
    return out


def _measure_rows(config: BalanceConfig, table: PatchTable, pair: RasterPair, progress: Progress) -> PatchTable:
    return measure_composition(table, pair, _with_table_patch_size(config, table), progress, warn=False)


def _with_table_patch_size(config: BalanceConfig, table: PatchTable) -> BalanceConfig:
    """The stages read the patch size from the config; the rows' own patch_size wins (one size per group)."""
    size = int(table["patch_size"][0]) if len(table) else config.patch_size
    return config if size == config.patch_size else replace(config, patch_size=size)


def embed_dataset(
    table: PatchTable, dataset: Dataset, config: BalanceConfig, progress: Progress, embedder: Embedder | None = None
) -> PatchTable:
    """The `embedding` column over all pairs, with one embedder (the model loads once, or once per cluster worker).

    On a cluster, workers read the embeddings cache and send back what they computed; only this process
    writes the cache."""
    if config.scheduler:
        parts = per_pair(table, dataset, partial(_embed_rows_on_worker, config, embedder), progress,
                         scheduler=config.scheduler)
        for _, (_, computed) in parts:
            for key, row_off, col_off, size, vectors in computed:
                embedding_cache.store(config.embeddings_cache, embedding_cache.CacheKey(**key), row_off, col_off,
                                      size, vectors)
        parts = [(rows, embedded) for rows, (embedded, _) in parts]
    else:
        embedder = embedder or make_embedder(config)
        parts = per_pair(table, dataset, partial(_embed_rows, config, embedder), progress)
    width = max(t["embedding"].shape[1] for _, t in parts)
    column = np.full((len(table), width), np.nan, dtype=np.float32)
    for rows, embedded in parts:
        vectors = embedded["embedding"]
        if vectors.shape[1] == width:  # a pair with every patch excluded has a 1-wide NaN column
            column[rows] = vectors
    _refuse_non_finite(table, column, config)
    return table.with_columns(embedding=column)


def _embed_rows(config: BalanceConfig, embedder: Embedder, table: PatchTable, pair: RasterPair,
                progress: Progress, store=embedding_cache.store) -> PatchTable:
    return compute_embeddings(table, pair, _with_table_patch_size(config, table), progress, embedder, store)


def _embed_rows_on_worker(config: BalanceConfig, embedder: Embedder | None, table: PatchTable, pair: RasterPair,
                          progress: Progress) -> tuple[PatchTable, list]:
    """A cluster task: the embeddings of one pair's rows and what they add to the cache (as plain data)."""
    from .dask_run import worker_cached

    computed: list = []

    def keep(path, key, row_off, col_off, size, vectors):
        computed.append((asdict(key), row_off, col_off, size, vectors))

    embedder = embedder or worker_cached(("embedder", config.embedder, config.device, config.precision),
                                         lambda: make_embedder(config))
    return _embed_rows(config, embedder, table, pair, progress, keep), computed


def _refuse_non_finite(table: PatchTable, column: np.ndarray, config: BalanceConfig) -> None:
    """A NaN embedding would score as the most unique patch; pixels are cleaned before embedding, so one can only
    come from a cache written by an earlier version (from image nodata pixels) or from a broken model."""
    bad = ~table["excluded"] & ~np.isfinite(column).all(axis=1)
    if not bad.any():
        return
    where = (f"the embeddings cache {config.embeddings_cache!r} was probably written by an earlier version from "
             "image nodata pixels: delete it (or choose another file) and run again"
             if config.embeddings_cache else f"the embedder {config.embedder!r} produced them")
    ids = describe_ids(table["patch_id"][bad])
    raise EmbedderError(f"{int(bad.sum())} included patch(es) have an embedding that is not a number ({ids}): {where}.")
