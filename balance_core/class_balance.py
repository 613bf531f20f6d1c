"""Per-class balance, raw vs. under the sampler weights (shared by the demo, report and dock).

"Weighted" is what one epoch of `WeightedRandomSampler` with replacement feeds the model in
expectation: each patch's labelled pixels count in proportion to its weight.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def class_balance(class_values: np.ndarray, class_counts: np.ndarray, weights: np.ndarray) -> ClassBalance:
    counts = class_counts.astype(np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    raw = counts.sum(axis=0)
    weighted = (counts * weights[:, None]).sum(axis=0)
    total_w = weights.sum()
    labelled = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, labelled, out=np.zeros_like(counts), where=labelled > 0)
    has_label = labelled[:, 0] > 0 if len(counts) else np.zeros(0, bool)
    labelled_rows = fractions[has_label] if has_label.any() else np.zeros((1, counts.shape[1]))
    return ClassBalance(
        class_values=np.asarray(class_values),
        raw_share=raw / raw.sum() if raw.sum() else raw,
        weighted_share=weighted / weighted.sum() if weighted.sum() else weighted,
        patches_with_class=(class_counts > 0).sum(axis=0),
        effective_sample_size=float(total_w**2 / np.sum(weights**2)) if total_w else 0.0,
        max_oversampling=float(weights.max() / weights.mean()) if total_w else 0.0,
        min_fraction=labelled_rows.min(axis=0),
        max_fraction=labelled_rows.max(axis=0),
    )
