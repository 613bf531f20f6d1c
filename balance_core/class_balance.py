"""Per-class balance, raw vs. under the sampler weights (shared by the demo, the report and the dock).

"Weighted" is what one epoch of `WeightedRandomSampler` with replacement feeds the model in
expectation: each patch's labelled pixels count in proportion to its weight. An excluded patch
is never drawn, whatever weight it still carries (an analyst may exclude it after the weights
were computed), so it counts for nothing under the weights; it still counts in the raw share,
which describes the patches as cut.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from .legend import Legend, class_name


@dataclass(frozen=True)
class ClassBalance:
    class_values: np.ndarray
    raw_share: np.ndarray  # share of labelled pixels over all patches
    weighted_share: np.ndarray  # share of labelled pixels under the weights
    patches_with_class: np.ndarray  # patches holding at least one pixel of the class
    effective_sample_size: float  # (Σw)² / Σw²
    max_oversampling: float  # max weight / mean weight (= most draws of one patch per epoch)
    min_fraction: np.ndarray  # per class, the smallest patch-level fraction
    max_fraction: np.ndarray  # per class, the largest patch-level fraction
    n_patches: int = 0
    n_drawable: int = 0  # patches with a positive weight that are not excluded

    @property
    def raw_imbalance(self) -> float:
        return imbalance_ratio(self.raw_share)

    @property
    def weighted_imbalance(self) -> float:
        return imbalance_ratio(self.weighted_share)


def imbalance_ratio(shares: np.ndarray) -> float:
    """Largest / smallest share among the classes present; NaN with fewer than two present."""
    positive = np.asarray(shares, dtype=np.float64)
    positive = positive[positive > 0]
    return float(positive.max() / positive.min()) if len(positive) >= 2 else float("nan")


def labelled_pixels(patch_size: np.ndarray | None, nodata_ratio: np.ndarray | None, n: int) -> np.ndarray:
    """Labelled pixels per patch from a patch layer's fields (which hold fractions, not counts).

    Without `patch_size` every patch counts the same; without `nodata_ratio` it is fully labelled.
    """
    size = np.ones(n) if patch_size is None else np.nan_to_num(np.asarray(patch_size, dtype=np.float64), nan=0.0)
    nodata = np.zeros(n) if nodata_ratio is None else np.nan_to_num(np.asarray(nodata_ratio, dtype=np.float64))
    return size * size * (1.0 - nodata)


def class_balance(
    class_values: np.ndarray, class_counts: np.ndarray, weights: np.ndarray, excluded: np.ndarray | None = None
) -> ClassBalance:
    """The balance of a set of patches. A missing (NaN) or negative weight counts as 0: never drawn."""
    counts = np.asarray(class_counts, dtype=np.float64)
    if np.isnan(counts).any():
        counts = np.nan_to_num(counts, nan=0.0)
    weights = np.nan_to_num(np.asarray(weights, dtype=np.float64), nan=0.0).clip(min=0.0)
    if excluded is not None:
        weights[np.asarray(excluded, dtype=bool)] = 0.0
    raw = counts.sum(axis=0)
    weighted = weights @ counts
    total_w = weights.sum()
    labelled = counts.sum(axis=1, keepdims=True)
    has_label = labelled > 0
    if has_label.all() and len(counts):
        fractions = counts / labelled
        min_fraction, max_fraction = fractions.min(axis=0), fractions.max(axis=0)
    elif has_label.any():
        fractions = np.divide(counts, labelled, out=np.zeros_like(counts), where=has_label)
        min_fraction = fractions.min(axis=0, where=has_label, initial=np.inf)
        max_fraction = fractions.max(axis=0, where=has_label, initial=-np.inf)
    else:
        min_fraction = max_fraction = np.zeros(counts.shape[1])
    return ClassBalance(
        class_values=np.asarray(class_values),
        raw_share=raw / raw.sum() if raw.sum() else raw,
        weighted_share=weighted / weighted.sum() if weighted.sum() else weighted,
        patches_with_class=(counts > 0).sum(axis=0),
        effective_sample_size=float(total_w**2 / np.sum(weights**2)) if total_w else 0.0,
        max_oversampling=float(weights.max() / weights.mean()) if total_w else 0.0,
        min_fraction=min_fraction,
        max_fraction=max_fraction,
        n_patches=len(counts),
        n_drawable=int((weights > 0).sum()),
    )


CSV_HEADER = ("value", "name", "raw_share", "target_share", "weighted_share", "patches_with_class", "min_fraction",
              "max_fraction")


def balance_rows(balance: ClassBalance, legend: Legend, targets: dict | None = None) -> list[tuple]:
    """One row per class, in CSV_HEADER's order (the dock's table and its CSV copy); the target share is
    class_balance's (None when the weights came from another method)."""
    b, targets = balance, targets or {}
    return [
        (int(v), class_name(legend, v), float(b.raw_share[i]), targets.get(int(v)), float(b.weighted_share[i]),
         int(b.patches_with_class[i]), float(b.min_fraction[i]), float(b.max_fraction[i]))
        for i, v in enumerate(b.class_values)
    ]


def balance_csv(balance: ClassBalance, legend: Legend, targets: dict | None = None) -> str:
    """The per-class table as CSV text (full precision; `,` separated, `\\n` line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(["" if cell is None else cell for cell in row] for row in balance_rows(balance, legend, targets))
    return out.getvalue()
