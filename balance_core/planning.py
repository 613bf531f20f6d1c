"""Plan the two levers on the user's own data: patch size × oversampling cap.

Two levers move the class ratio the loss sees before any loss weight: the **patch size** (small
patches let pure-background ones be drawn less) and the **oversampling cap** (rare-class patches
drawn more often). For every (patch size, cap) this computes what *Build balanced dataset* with
`class_balance` would give — the same grid, composition, exclusions and calibration — without
writing a patch layer.

One pass over the masks serves every patch size that is a multiple of the smallest: the smallest
grid's per-patch class counts, nodata pixels, image-nodata flags and border edges (which edges of
a patch hold a nodata or black pixel) add up exactly to those of the larger patches they tile.
Other sizes get a pass of their own.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .calibration import calibrate_class_balance, loss_weights, parse_target
from .class_balance import class_balance
from .composition import EDGE_BOTTOM, EDGE_LEFT, EDGE_RIGHT, EDGE_TOP, class_entropy
from .config import BalanceConfig
from .dataset import Dataset, dataset_grid, measure_dataset_composition, open_dataset, pair_groups
from .errors import InvalidParameterError
from .exclusion import apply_exclusions
from .progress import NullProgress, Progress, SubProgress, check_cancelled
from .table import PatchTable


@dataclass(frozen=True)
class PlanRow:
    """What one (patch size, cap) setting gives."""

    patch_size: int
    cap: float
    patches: int
    drawable: int
    class_values: np.ndarray
    frame_share: np.ndarray  # share of labelled pixels over every patch as cut: what whole frames feed the loss
    drawn_share: np.ndarray  # share of labelled pixels one epoch draws under the weights
    target_share: np.ndarray
    patches_with_class: np.ndarray  # drawable patches holding the class
    frame_imbalance: float  # largest / smallest frame share
    imbalance: float  # largest / smallest drawn share
    majority_per_minority: float  # drawn pixels of the largest class per pixel of the rarest (by frame share)
    frame_majority_per_minority: float
    effective_sample_size: float
    max_oversampling: float
    loss_weights: np.ndarray  # per class, still needed after sampling
    reached: bool  # the target itself is reached
    limits: str  # what limits the balance, for people ('' when the target is reached)

    @property
    def ess_fraction(self) -> float:
        return self.effective_sample_size / self.drawable if self.drawable else 0.0


@dataclass(frozen=True)
class Recommendation:
    row: PlanRow | None
    meets_target: bool
    text: str


def parse_numbers(text: str, what: str, integer: bool) -> list:
    """'64,128,256' → [64, 128, 256]: sorted, distinct, positive; a clear message otherwise."""
    items = [t.strip() for t in str(text).replace(";", ",").split(",") if t.strip()]
    try:
        values = [int(t) if integer else float(t) for t in items]
    except ValueError:
        raise InvalidParameterError(f"{what} must be comma-separated {'whole ' if integer else ''}numbers, "
                                    f"such as {'64,128,256,512' if integer else '1,2,3,5,8'}; got {text!r}.") from None
    if not values:
        raise InvalidParameterError(f"Give at least one value for {what}.")
    low = 1
    if any(v < low or v != v for v in values):
        raise InvalidParameterError(f"{what} must all be at least {low}; got {text!r}.")
    return sorted(set(values))


def aggregate(small: PatchTable, dataset: Dataset, size: int) -> PatchTable:
    """The measured grid at `size` (a multiple of the small grid's patch size), from the small grid alone.

    Both grids tile each raster from its top-left corner without overlap, so a large patch is exactly
    k × k small ones: counts and nodata pixels add up, image nodata is "any", and the large patch's
    top edge is the top edges of its top row of small patches (likewise the other three edges).
    """
    base = int(small["patch_size"][0])
    k = size // base
    if k * base != size:
        raise ValueError("size must be a multiple of the small patch size")
    parts, pair_order = [], []
    for (image, mask), rows in pair_groups(small):
        pair = dataset[(image, mask)]
        nr, nc = pair.height // base, pair.width // base
        NR, NC = pair.height // size, pair.width // size
        if NR == 0 or NC == 0:
            continue
        order = rows[np.lexsort((small["col_off"][rows], small["row_off"][rows]))]
        if len(order) != nr * nc:
            raise ValueError("the small grid must tile each raster completely")

        def blocks(values: np.ndarray) -> np.ndarray:
            grid = values[order].reshape((nr, nc) + values.shape[1:])[:NR * k, :NC * k]
            return grid.reshape((NR, k, NC, k) + values.shape[1:])

        counts = blocks(small.class_counts).sum(axis=(1, 3)).reshape(NR * NC, -1)
        nodata_px = blocks(np.rint(small["nodata_ratio"] * base * base).astype(np.int64)).sum(axis=(1, 3)).ravel()
        image_nodata = blocks(small["image_nodata"]).any(axis=(1, 3)).ravel()
        edges = {name: _outer_edges(blocks(small[name])) for name in ("border_nodata_edges", "border_black_edges")}
        row_off = np.repeat(np.arange(NR) * size, NC)
        col_off = np.tile(np.arange(NC) * size, NR)
        parts.append(dict(row_off=row_off, col_off=col_off, counts=counts, nodata_px=nodata_px,
                          image_nodata=image_nodata, **edges))
        pair_order.append((image, mask, NR * NC))
    if not parts:
        raise InvalidParameterError(f"Patch size {size} px is larger than every raster.")
    n = sum(p[2] for p in pair_order)
    columns = {
        "patch_id": np.arange(n, dtype=np.int64),
        "image_path": np.concatenate([np.full(m, i, dtype=object) for i, _, m in pair_order]),
        "mask_path": np.concatenate([np.full(m, j, dtype=object) for _, j, m in pair_order]),
        "row_off": np.concatenate([p["row_off"] for p in parts]),
        "col_off": np.concatenate([p["col_off"] for p in parts]),
        "patch_size": np.full(n, size, dtype=np.int64),
    }
    counts = np.concatenate([p["counts"] for p in parts])
    present = counts.sum(axis=0) > 0  # a class seen only in the margin the larger grid leaves is no class here
    table = PatchTable(columns).with_classes(small.class_values[present], counts[:, present])
    nodata_edges = np.concatenate([p["border_nodata_edges"] for p in parts])
    black_edges = np.concatenate([p["border_black_edges"] for p in parts])
    return table.with_columns(
        class_entropy=class_entropy(table.fractions()),
        nodata_ratio=np.concatenate([p["nodata_px"] for p in parts]) / (size * size),
        border_nodata=nodata_edges > 0,
        border_black=black_edges > 0,
        border_nodata_edges=nodata_edges,
        border_black_edges=black_edges,
        image_nodata=np.concatenate([p["image_nodata"] for p in parts]),
    )


def _outer_edges(edges: np.ndarray) -> np.ndarray:
    """(NR, k, NC, k) small-patch edge masks → (NR·NC,) edge masks of the large patches."""
    top = np.any(edges[:, 0, :, :] & EDGE_TOP, axis=-1)
    bottom = np.any(edges[:, -1, :, :] & EDGE_BOTTOM, axis=-1)
    left = np.any(edges[:, :, :, 0] & EDGE_LEFT, axis=1)
    right = np.any(edges[:, :, :, -1] & EDGE_RIGHT, axis=1)
    return (top * EDGE_TOP + bottom * EDGE_BOTTOM + left * EDGE_LEFT + right * EDGE_RIGHT).astype(np.uint8).ravel()


def measured_grid(dataset: Dataset, config: BalanceConfig, size: int, progress: Progress) -> PatchTable:
    """The grid at `size` (tiled, no overlap) measured by a pass over the masks."""
    sized = replace(config, patch_size=size, stride=0)
    return measure_dataset_composition(dataset_grid(dataset, sized), dataset, sized, progress)


def plan_setting(table: PatchTable, config: BalanceConfig, cap: float,
                 class_names: Mapping[int, str] | None = None) -> PlanRow:
    """What class_balance gives on an excluded-and-measured grid under `cap` (as Build balanced dataset)."""
    included = ~table["excluded"]
    result = calibrate_class_balance(
        table.class_counts, included, target=parse_target(config.target), strength=config.balance_strength,
        max_oversampling=cap, floor=config.weight_floor, class_values=table.class_values,
    )
    balance = class_balance(table.class_values, table.class_counts, result.weights, table["excluded"])
    drawable_counts = table.class_counts[included]
    frame, drawn = balance.raw_share, balance.weighted_share
    present = frame > 0
    rare = int(np.argmin(np.where(present, frame, np.inf))) if present.any() else 0
    major = int(np.argmax(frame)) if present.any() else 0
    return PlanRow(
        patch_size=int(table["patch_size"][0]), cap=float(cap), patches=len(table), drawable=int(included.sum()),
        class_values=table.class_values, frame_share=frame, drawn_share=drawn, target_share=result.target_share,
        patches_with_class=(drawable_counts > 0).sum(axis=0),
        frame_imbalance=balance.raw_imbalance, imbalance=balance.weighted_imbalance,
        majority_per_minority=_per(drawn, major, rare), frame_majority_per_minority=_per(frame, major, rare),
        effective_sample_size=balance.effective_sample_size, max_oversampling=balance.max_oversampling,
        loss_weights=loss_weights(drawn), reached=result.reached,
        limits="" if result.reached else result.message(class_names),
    )


def _per(shares: np.ndarray, major: int, rare: int) -> float:
    return float(shares[major] / shares[rare]) if shares[rare] > 0 else float("inf")


def plan_balance(
    pairs: Sequence[tuple[str, str]],
    config: BalanceConfig,
    patch_sizes: Sequence[int],
    caps: Sequence[float],
    progress: Progress | None = None,
    class_names: Mapping[int, str] | None = None,
) -> list[PlanRow]:
    """Every (patch size, cap) setting, patch sizes ascending, caps ascending within a size."""
    progress = progress or NullProgress()
    config.validate()
    sizes, caps = sorted(set(int(s) for s in patch_sizes)), sorted(set(float(c) for c in caps))
    if any(c < 1 for c in caps):
        raise InvalidParameterError(f"Caps must be at least 1 (1 = every usable patch equally often); got {caps}.")
    dataset = open_dataset(pairs, progress)
    largest = min(min(p.width, p.height) for p in dataset.pairs)
    usable = [s for s in sizes if s <= largest]
    if not usable:
        raise InvalidParameterError(f"Every patch size ({', '.join(map(str, sizes))} px) is larger than a raster "
                                    f"({largest} px on its shorter side).")
    if len(usable) < len(sizes):
        progress.warning(f"Patch sizes larger than {largest} px are left out: "
                         f"{', '.join(str(s) for s in sizes if s > largest)}.")
    smallest = usable[0]
    passes = [s for s in usable if s % smallest]  # sizes the smallest grid cannot give
    measure_end = 0.8
    step = measure_end / (1 + len(passes))
    small = measured_grid(dataset, config, smallest, SubProgress(progress, 0.0, step))
    tables = {}
    for i, size in enumerate(usable):
        check_cancelled(progress)
        if size == smallest:
            measured = small
        elif size in passes:
            done = 1 + passes.index(size)
            measured = measured_grid(dataset, config, size, SubProgress(progress, done * step, (done + 1) * step))
        else:
            measured = aggregate(small, dataset, size)
        tables[size] = apply_exclusions(measured, replace(config, patch_size=size))
    rows, total, done = [], len(usable) * len(caps), 0
    for size in usable:
        table = tables[size]
        if table["excluded"].all():
            progress.warning(f"At {size} px every patch is excluded: that size is left out.")
            continue
        for cap in caps:
            check_cancelled(progress)
            rows.append(plan_setting(table, config, cap, class_names))
            done += 1
            progress.set_fraction(measure_end + (1 - measure_end) * done / total)
    if not rows:
        raise InvalidParameterError("At every patch size every patch is excluded: relax the exclusion rules.")
    return rows


def recommend(rows: Sequence[PlanRow], target_ratio: float) -> Recommendation:
    """The setting that reaches `target_ratio` (largest / smallest drawn class share) with the largest
    effective sample size; if none does, the one that comes closest — said plainly."""
    meeting = [r for r in rows if r.imbalance <= target_ratio * (1 + 1e-9)]
    if meeting:
        best = max(meeting, key=lambda r: (r.effective_sample_size, r.patch_size, -r.cap))
        return Recommendation(best, True, (
            f"Patches of {best.patch_size} px with an oversampling cap of {best.cap:g}× reach {_ratio(best.imbalance)} "
            f"(target {_ratio(target_ratio)}) with the largest effective sample size: "
            f"{best.effective_sample_size:,.0f} of {best.drawable:,} drawable patches."))
    if not rows:
        return Recommendation(None, False, "No setting could be computed.")
    best = min(rows, key=lambda r: (r.imbalance, -r.effective_sample_size))
    return Recommendation(best, False, (
        f"No setting reaches {_ratio(target_ratio)}. The closest is patches of {best.patch_size} px with a cap of "
        f"{best.cap:g}×: {_ratio(best.imbalance)} (effective sample size {best.effective_sample_size:,.0f} of "
        f"{best.drawable:,}). Smaller patches, a larger cap, or more labelled examples of the rare classes "
        "would go further."))


def _ratio(value: float) -> str:
    return "–" if value != value or value == float("inf") else f"{value:.1f} : 1"
