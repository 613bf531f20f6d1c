"""Tie-aware percentile ranks.

Equal scores get equal ranks (the average of the positions they span). The reference's
`argsort(argsort(x))` instead spreads the members of one cluster over the whole 0..1 range
by row order, so two identical patches could get very different weights.
"""
from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; ties share the mean of their positions (like scipy's 'average')."""
    values = np.asarray(values)
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], n]
    group_rank = (starts + ends + 1) / 2.0  # mean of positions start+1 .. end
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks scaled to (0, 1]: the highest score gets 1, equal scores get equal values."""
    n = len(values)
    return average_ranks(values) / n if n else np.zeros(0, dtype=np.float64)
