"""Train / validation / test split of a patch table: spatial blocks, class-stratified, with a buffer.

    blocks (blocks.py) → stratified assignment of blocks (split_search.py) → buffer (split_buffer.py)
    → `split` column + `excl_split_buffer` flag → per-split summary (+ instances, instances.py)

The split is a column of the patch table, so every later step carries it; the weights step
weights the training split alone (`weigh_training_split`): validation and test patches get
weight 0 and do not count in the training balance, but keep their rows.

Which patches take part: every row gets the split of its block, but only *drawable* patches
(not excluded by another rule) count in the fractions and class shares, and only they can
conflict across splits. A previous split's buffer exclusions are undone before a new split, so
splitting a split layer again starts from the same patches (a patch excluded by hand that the
previous buffer also flagged is then drawable again: exclude it once more if needed).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from .blocks import BLOCK_KINDS, default_block_size, make_blocks
from .errors import AllExcludedError, InvalidParameterError
from .exclusion import FLAG_COLUMNS
from .progress import NullProgress, Progress, SubProgress, check_cancelled
from .split_buffer import buffer_exclusions
from .split_search import (RESTARTS, BlockStats, SearchResult, SplitSpec, assign_blocks, parse_split_spec,
                           random_assignment, score_assignment)
from .table import PatchTable
from .writers import write_csv

SPLIT_FIELD = "split"
BUFFER_FLAG = "excl_split_buffer"
DEFAULT_SPEC = SplitSpec(("train", "val", "test"), (0.7, 0.15, 0.15))
MIN_INSTANCES = 50  # seed 003: "at least 50–100 instances per class"
FRACTION_WARNING = 0.05  # a split further than this from its requested fraction is named in the log
# Columns that describe weights: stale once the split changes which patches are weighted.
WEIGHT_COLUMNS = ("sampler_weight", "freq_cluster_id", "freq_cluster_size", "freq_cluster_weight")
UNWEIGHTED = {"freq_cluster_id": -1}  # what a weighting column holds outside the training split (else 0)


@dataclass(frozen=True)
class SplitConfig:
    spec: SplitSpec = DEFAULT_SPEC
    blocks: str = "grid"  # grid | raster | region
    block_size: float = 0.0  # map units; 0 = 8 patches wide
    buffer: float = 0.0  # map units between patches of different splits (beyond never sharing a pixel)
    seed: int = 42
    min_instances: int = MIN_INSTANCES
    restarts: int = RESTARTS

    def validate(self) -> "SplitConfig":
        if self.blocks not in BLOCK_KINDS:
            raise InvalidParameterError(f"Unknown kind of blocks {self.blocks!r}; choose one of {', '.join(BLOCK_KINDS)}.")
        if not np.isfinite(self.block_size) or self.block_size < 0:
            raise InvalidParameterError(f"The block size must be 0 (8 patches wide) or positive, got {self.block_size}.")
        if not np.isfinite(self.buffer) or self.buffer < 0:
            raise InvalidParameterError(f"The buffer must be 0 or a positive distance in map units, got {self.buffer}.")
        if not 0 <= self.seed < 2**32:
            raise InvalidParameterError(f"The random seed must be a whole number from 0 to 4294967295, got {self.seed}.")
        if self.min_instances < 0:
            raise InvalidParameterError(f"The minimum number of instances must be 0 or more, got {self.min_instances}.")
        if self.restarts < 1:
            raise InvalidParameterError(f"The search needs at least one start, got {self.restarts}.")
        return self


@dataclass(frozen=True)
class SplitSummary:
    """Per split (rows) and class (columns) figures over the drawable patches, for the report and the log."""

    names: tuple[str, ...]
    requested: np.ndarray  # (S,) requested fractions
    class_values: np.ndarray  # (C,)
    rows: np.ndarray  # (S,) rows of the layer in each split (excluded ones too)
    patches: np.ndarray  # (S,) drawable patches
    pixels: np.ndarray  # (S, C) labelled pixels of each class in the split's drawable patches
    patches_with_class: np.ndarray  # (S, C) drawable patches holding at least one pixel of the class
    buffer_excluded: np.ndarray  # (S,) patches excluded by the buffer
    instances: np.ndarray | None = None  # (S, C) connected regions, when counted
    min_instances: int = MIN_INSTANCES
    blocks_with_class: np.ndarray | None = None  # (C,) blocks holding the class (drawable patches), when known
    n_blocks: int = 0

    @property
    def achieved(self) -> np.ndarray:
        """Share of the drawable patches in each split."""
        total = self.patches.sum()
        return self.patches / total if total else np.zeros(len(self.patches))

    @property
    def pixel_fraction(self) -> np.ndarray:
        """Share of the labelled pixels in each split."""
        per_split = self.pixels.sum(axis=1)
        return per_split / per_split.sum() if per_split.sum() else np.zeros(len(per_split))

    @property
    def shares(self) -> np.ndarray:
        """(S, C) class shares of each split's labelled pixels."""
        per_split = self.pixels.sum(axis=1, keepdims=True)
        return np.divide(self.pixels, per_split, out=np.zeros_like(self.pixels), where=per_split > 0)

    @property
    def whole_shares(self) -> np.ndarray:
        total = self.pixels.sum(axis=0)
        return total / total.sum() if total.sum() else total

    @property
    def allocation(self) -> np.ndarray:
        """(S, C) share of each class's pixels that lies in each split (= the requested fraction when stratified)."""
        total = self.pixels.sum(axis=0, keepdims=True)
        return np.divide(self.pixels, total, out=np.zeros_like(self.pixels), where=total > 0)

    @property
    def share_ratio(self) -> np.ndarray:
        """(S, C) each split's class share / the whole's (1 = perfectly stratified; 0 = class missing)."""
        whole = self.whole_shares[None, :]
        return np.divide(self.shares, whole, out=np.full_like(self.shares, np.nan), where=whole > 0)

    @property
    def divergence(self) -> np.ndarray:
        """(S,) KL divergence (nats) of the whole's class shares from each split's (inf when a class is missing)."""
        p, q = self.whole_shares[None, :], self.shares
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log(p / q), 0.0)
        return terms.sum(axis=1)

    @property
    def max_fraction_error(self) -> float:
        return float(np.abs(self.achieved - self.requested).max()) if len(self.requested) else 0.0

    @property
    def max_allocation_error(self) -> float:
        """The largest |share of a class's pixels in a split − that split's requested fraction|."""
        present = self.pixels.sum(axis=0) > 0
        if not present.any():
            return 0.0
        return float(np.abs(self.allocation[:, present] - self.requested[:, None]).max())

    def missing(self) -> list[tuple[int, int]]:
        """(split index, class index) of classes present in the data but absent from a split."""
        present = self.pixels.sum(axis=0) > 0
        return [(s, c) for s in range(len(self.names)) for c in range(len(self.class_values))
                if present[c] and self.pixels[s, c] == 0]

    def few_instances(self) -> list[tuple[int, int]]:
        """(split index, class index) with fewer than `min_instances` instances (only when counted).

        A class holding more than half of the labelled pixels (the background, in practice) is not checked:
        it is no object class, and its connected regions are the gaps between the objects."""
        if self.instances is None:
            return []
        present = self.pixels.sum(axis=0) > 0
        checked = present & (self.whole_shares <= 0.5)
        return [(s, c) for s in range(len(self.names)) for c in range(len(self.class_values))
                if checked[c] and self.instances[s, c] < self.min_instances]

    def warnings(self, names: Mapping[int, str] | None = None) -> list[str]:
        """What the log and the report warn about: missing classes, too few instances, fractions far off."""
        out = []
        label = _labeller(names)
        S = len(self.names)
        for s, c in self.missing():
            where = ""
            if self.blocks_with_class is not None:
                k = int(self.blocks_with_class[c])
                where = (f" it lies in only {k} of the {self.n_blocks} blocks, fewer than the {S} splits: smaller "
                         "blocks (BLOCK_SIZE) may spread it; more labelled data is the real cure." if k < S else
                         f" it lies in {k} of the {self.n_blocks} blocks: try smaller blocks or another random seed.")
            out.append(f"Class {label(self.class_values[c])} is absent from split '{self.names[s]}', which cannot "
                       f"measure it:{where or ' use smaller blocks (BLOCK_SIZE), or more labelled data.'}")
        few: dict[int, list[int]] = {}
        for s, c in self.few_instances():
            if self.pixels[s, c] > 0:  # an absent class is named above
                few.setdefault(c, []).append(s)
        for c, splits in few.items():
            counts = ", ".join(f"{self.names[s]} {int(self.instances[s, c])}" for s in splits)
            out.append(f"Class {label(self.class_values[c])} has fewer than {self.min_instances} instances in "
                       f"{'split' if len(splits) == 1 else 'splits'} {counts}: its scores there rest on few objects.")
        for s in range(len(self.names)):
            error = self.achieved[s] - self.requested[s]
            if abs(error) > FRACTION_WARNING:
                out.append(f"Split '{self.names[s]}' holds {self.achieved[s]:.1%} of the drawable patches, "
                           f"{self.requested[s]:.1%} requested: the blocks are too large or too few for this fraction "
                           "(smaller BLOCK_SIZE, or more rasters/regions).")
        return out

    def with_instances(self, instances: np.ndarray) -> "SplitSummary":
        return replace(self, instances=np.asarray(instances, dtype=np.int64))


def _labeller(names: Mapping[int, str] | None) -> Callable[[int], str]:
    def label(value) -> str:
        value = int(value)
        return f"{value} ({names[value]})" if names and value in names else str(value)

    return label


@dataclass(frozen=True)
class SplitOutcome:
    table: PatchTable  # with `split`, `excl_split_buffer`, and `excluded` updated
    block: np.ndarray  # block id per patch
    n_blocks: int
    block_size: float  # map units of the grid cells (0 when the blocks are rasters)
    search: SearchResult  # the assignment kept (its objective is before the buffer)
    score: tuple[float, float, float, int]  # (objective, class term, fraction term, missing) after the buffer
    random: tuple[float, float, float, int]  # the same for a seeded random assignment of the same blocks
    summary: SplitSummary
    notes: tuple[str, ...] = field(default=())


def split_codes(table: PatchTable, names) -> np.ndarray:
    """Split index per row (−1 where the `split` field holds none of `names`)."""
    lookup = {name: i for i, name in enumerate(names)}
    return np.array([lookup.get(str(v), -1) if v is not None else -1 for v in table[SPLIT_FIELD]], dtype=np.int64)


def _unsplit(table: PatchTable) -> tuple[PatchTable, np.ndarray]:
    """The table with a previous split's buffer exclusions undone, and its drawable rows."""
    excluded = np.asarray(table["excluded"], dtype=bool) if "excluded" in table else np.zeros(len(table), bool)
    if BUFFER_FLAG in table:
        others = [np.asarray(table[f], dtype=bool) for f in FLAG_COLUMNS if f != BUFFER_FLAG and f in table]
        by_rules = np.logical_or.reduce(others) if others else np.zeros(len(table), bool)
        excluded = (excluded & ~np.asarray(table[BUFFER_FLAG], dtype=bool)) | by_rules
    if table.class_counts is not None:
        excluded |= table.class_counts.sum(axis=1) <= 0  # no labelled pixel: never drawn
    columns = {k: v for k, v in table.columns.items() if k not in WEIGHT_COLUMNS}
    return replace(table, columns={**columns, "excluded": excluded}, calibration=None), ~excluded


def split_patches(table: PatchTable, bounds: np.ndarray, config: SplitConfig = SplitConfig(),
                  progress: Progress | None = None, region_index: np.ndarray | None = None,
                  class_names: Mapping[int, str] | None = None) -> SplitOutcome:
    """Assign every patch to a split; exclude the patches the buffer needs; summarise per split and class.

    `bounds`: (n, 4) xmin, ymin, xmax, ymax of each patch in the layer's CRS (map units).
    `region_index`: per patch, the region holding its centre (−1 outside all), for blocks by region.
    Weight columns of the input are dropped: they were computed without the split.
    """
    progress = progress or NullProgress()
    config.validate()
    if table.class_counts is None:
        raise InvalidParameterError("Splitting needs the class composition: run 'Compute class composition' first.")
    bounds = np.asarray(bounds, dtype=np.float64)
    if bounds.shape != (len(table), 4) or not np.isfinite(bounds).all():
        raise InvalidParameterError("Every patch needs a footprint (a rectangle in the layer's CRS) to be split.")
    stale = [c for c in WEIGHT_COLUMNS if c in table]
    table, drawable = _unsplit(table)
    if not drawable.any():
        raise AllExcludedError("Every patch is excluded: there is nothing to split.")
    block_size = 0.0
    if config.blocks in ("grid", "region"):
        block_size = config.block_size or default_block_size(bounds)
    block = make_blocks(config.blocks, bounds, block_size,
                        table["image_path"] if "image_path" in table else None, region_index)
    n_blocks = int(block.max()) + 1
    stats = BlockStats.of(block, n_blocks, table.class_counts, drawable)
    usable = int((stats.patches > 0).sum())
    spec = config.spec
    progress.info(f"{int(drawable.sum())} drawable patches in {usable} block(s) "
                  + (f"of {block_size:g} map units" if config.blocks == "grid" else f"({config.blocks}s)"))
    if usable < len(spec.names):
        raise InvalidParameterError(
            f"The drawable patches lie in {usable} block(s), fewer than the {len(spec.names)} splits: use smaller "
            "blocks (BLOCK_SIZE), or more rasters or regions.")
    counts = table.class_counts

    def buffered(split_of_block: np.ndarray) -> tuple[np.ndarray, tuple]:
        """The buffer's exclusions for an assignment, and its score on the patches the buffer leaves."""
        flag = buffer_exclusions(bounds, split_of_block[block], drawable, config.buffer, spec.fractions, progress)
        left = BlockStats.of(block, n_blocks, counts, drawable & ~flag) if flag.any() else stats
        return flag, score_assignment(left, spec.fractions, split_of_block)

    # The buffer takes patches from the split that gives way (train, mostly), so the fractions drift; the search
    # runs again with targets corrected by what the buffer took (at most twice), and the best result after the
    # buffer is kept.
    target = np.asarray(spec.fractions, dtype=np.float64)
    best = None
    for attempt in range(3):
        search = assign_blocks(stats, target, config.seed, config.restarts,
                               SubProgress(progress, 0.8 * attempt / 3, 0.8 * (attempt + 1) / 3))
        flag, score = buffered(search.split_of_block)
        if best is None or score[0] < best[2][0] - 1e-15:
            best = (search, flag, score)
        check_cancelled(progress)
        if not flag.any():
            break
        kept = np.bincount(search.split_of_block[block][drawable & ~flag], minlength=len(target)).astype(float)
        assigned = np.bincount(search.split_of_block[block][drawable], minlength=len(target)).astype(float)
        keep_rate = np.divide(kept, assigned, out=np.ones_like(kept), where=assigned > 0)
        target = target / np.maximum(keep_rate, 1e-3)
        target = target / target.sum()
    search, flag, score = best
    random_flag, random_score = buffered(random_assignment(stats, spec.fractions, np.random.default_rng(config.seed)))
    split = search.split_of_block[block]
    progress.set_fraction(0.95)
    names = np.array(spec.names, dtype=object)
    table = table.with_columns(**{SPLIT_FIELD: names[split], BUFFER_FLAG: flag,
                                  "excluded": np.asarray(table["excluded"], dtype=bool) | flag})
    summary = replace(summarise_split(table, spec, config.min_instances),
                      blocks_with_class=(stats.class_pixels > 0).sum(axis=0), n_blocks=usable)
    notes = []
    if stale:
        notes.append(f"The input's {', '.join(stale)} were dropped: they were computed without the split. Run "
                     "'Compute sampler weights' on the split layer (or tick its weights here): only the "
                     f"'{spec.training}' patches get a weight.")
    progress.set_fraction(1.0)
    return SplitOutcome(table, block, n_blocks, block_size, search, score, random_score, summary, tuple(notes))



def summarise_split(table: PatchTable, spec: SplitSpec, min_instances: int = MIN_INSTANCES,
                    instances: np.ndarray | None = None) -> SplitSummary:
    """The per-split figures of a table that has a `split` column (drawable patches only)."""
    codes = split_codes(table, spec.names)
    S = len(spec.names)
    excluded = np.asarray(table["excluded"], dtype=bool)
    drawable = ~excluded & (codes >= 0)
    counts = table.class_counts if table.class_counts is not None else np.zeros((len(table), 0))
    flag = np.asarray(table[BUFFER_FLAG], dtype=bool) if BUFFER_FLAG in table else np.zeros(len(table), bool)
    pixels = np.zeros((S, counts.shape[1]))
    holding = np.zeros((S, counts.shape[1]), dtype=np.int64)
    for s in range(S):
        mine = drawable & (codes == s)
        pixels[s] = counts[mine].sum(axis=0)
        holding[s] = (counts[mine] > 0).sum(axis=0)
    return SplitSummary(
        names=tuple(spec.names), requested=np.asarray(spec.fractions, dtype=np.float64),
        class_values=np.asarray(table.class_values), rows=np.bincount(codes[codes >= 0], minlength=S),
        patches=np.bincount(codes[drawable], minlength=S), pixels=pixels, patches_with_class=holding,
        buffer_excluded=np.bincount(codes[flag & (codes >= 0)], minlength=S),
        instances=None if instances is None else np.asarray(instances, dtype=np.int64), min_instances=min_instances)


# --- weights on the training split only ------------------------------------------------------------

def is_split(table: PatchTable) -> bool:
    """Whether the table has a `split` column with at least one value (an empty field added by hand is none)."""
    return SPLIT_FIELD in table and any(str(v).strip() for v in table[SPLIT_FIELD] if v is not None)


def training_rows(table: PatchTable, train_split: str) -> np.ndarray:
    """Rows of the training split; refused, naming what the layer holds, when no row is in it."""
    values = np.array(["" if v is None else str(v) for v in table[SPLIT_FIELD]], dtype=object)
    rows = values == train_split
    if not rows.any():
        found = sorted(set(values.tolist()) - {""})
        raise InvalidParameterError(
            f"The layer's split field holds {', '.join(repr(v) for v in found[:6]) or 'no value'} but no "
            f"'{train_split}': name the training split (TRAIN_SPLIT), or split the patches again.")
    return rows


def weigh_training_split(table: PatchTable, train_split: str,
                         weigh: Callable[[PatchTable], PatchTable]) -> PatchTable:
    """Weights computed on the training split alone, as if it were the whole dataset; 0 elsewhere.

    The training rows are weighted by `weigh` (clusters, class balance, cap: weights have mean 1 over
    the training rows, so in `train.csv` a weight is still a patch's expected draws per epoch);
    validation and test rows keep everything else and get sampler_weight 0 and no cluster.
    """
    rows = training_rows(table, train_split)
    weighted = weigh(table.take(np.flatnonzero(rows)))
    extra = {}
    for name, values in weighted.columns.items():
        if name in table.columns and name not in WEIGHT_COLUMNS:
            continue
        full = np.full(len(table), UNWEIGHTED.get(name, 0), dtype=values.dtype)
        full[rows] = values
        extra[name] = full
    return replace(table.with_columns(**extra), calibration=weighted.calibration)


def training_table(table: PatchTable, train_split: str = DEFAULT_SPEC.training) -> PatchTable:
    """The training split's rows (the whole table when it has no split): what the balance report describes."""
    if not is_split(table):
        return table
    part = table.take(np.flatnonzero(training_rows(table, train_split)))
    return replace(part, calibration=table.calibration)


def split_csv_paths(folder: str, names) -> dict[str, str]:
    """`<folder>/<name>.csv` per split."""
    return {name: os.path.join(folder, f"{name}.csv") for name in names}


def write_split_csvs(table: PatchTable, folder: str, names) -> dict[str, str]:
    """One CSV per split with the sampler CSV's columns (`writers.write_csv`), its drawable patches only.

    Excluded rows are left out of every split's CSV: a validation loader iterates every row, and an
    excluded row is either unusable (nodata) or a patch the buffer took out so that no pixel is in
    two splits. Validation and test rows carry sampler_weight 0 when weights were computed: the same
    columns in every file, so one dataset class reads them all, and a sampler built on val.csv by
    mistake fails loudly (PyTorch refuses all-zero weights). In train.csv the weights are the layer's:
    their mean over its rows is 1 × (training rows / drawable training rows), a little above 1 when
    some training patches are excluded; WeightedRandomSampler only uses their ratios.
    """
    paths = split_csv_paths(folder, names)
    values = np.array(["" if v is None else str(v) for v in table[SPLIT_FIELD]], dtype=object)
    drawable = ~np.asarray(table["excluded"], dtype=bool)
    for name, path in paths.items():
        rows = np.flatnonzero((values == name) & drawable)
        write_csv(table.take(rows), path)
    return paths


__all__ = ["SPLIT_FIELD", "BUFFER_FLAG", "SplitConfig", "SplitSummary", "SplitOutcome", "parse_split_spec",
           "split_patches", "summarise_split", "weigh_training_split", "training_table", "training_rows", "is_split",
           "write_split_csvs", "split_csv_paths"]
