"""Turn scores into one `sampler_weight` per patch, safe for `WeightedRandomSampler`.

Included patches get their tie-aware percentile rank, never less than the floor (so the
sampler can draw each of them); excluded patches get exactly 0.
"""
from __future__ import annotations

import numpy as np

from .config import BalanceConfig
from .errors import AllExcludedError, InvalidParameterError
from .ranking import percentile_ranks
from .table import PatchTable


def composition_only(table: PatchTable, included: np.ndarray) -> np.ndarray:
    return percentile_ranks(table["freq_cluster_weight"][included])


METHODS = {"composition_only": composition_only}


def compute_weights(table: PatchTable, config: BalanceConfig) -> PatchTable:
    included = ~table["excluded"]
    weights = np.zeros(len(table), dtype=np.float64)
    weights[included] = np.maximum(METHODS[config.method](table, included), config.weight_floor)
    check_sampler_safe(weights)
    return table.with_columns(sampler_weight=weights)


def check_sampler_safe(weights: np.ndarray) -> None:
    """PyTorch rejects NaN, inf, negative and all-zero weights, and more than 2**24 of them."""
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("sampler weights must be finite and non-negative")  # a bug, not user input
    if not np.any(weights > 0):
        raise AllExcludedError("Every sampler weight is 0: no patch can be drawn.")
    if len(weights) > 1 << 24:
        raise InvalidParameterError(
            f"{len(weights)} patches exceed the 2^24 weights WeightedRandomSampler accepts; "
            "use a larger patch size or stride."
        )
