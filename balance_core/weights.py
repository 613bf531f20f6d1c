"""Turn the two signals into one `sampler_weight` per patch, safe for `WeightedRandomSampler`.

Both signals are compared on tie-aware percentile ranks among the *included* patches, so
their scales do not matter (cluster weights are 1/size, uniqueness is a cosine distance).
`multiplicative` is the exception the reference also makes: the product of the raw scores,
scaled so the largest is 1. Included patches never fall below the floor (so the sampler can
draw each of them); excluded patches get exactly 0.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .config import BalanceConfig
from .errors import AllExcludedError, InvalidParameterError
from .oversampling import cap_oversampling
from .progress import Progress
from .ranking import percentile_ranks
from .table import PatchTable

Signals = tuple[np.ndarray, np.ndarray]  # (composition score, uniqueness score) of included patches


def _ranks(signals: Signals) -> Signals:
    return percentile_ranks(signals[0]), percentile_ranks(signals[1])


def rank_max(signals: Signals) -> np.ndarray:
    rc, ru = _ranks(signals)
    return np.maximum(rc, ru)


def rank_multiply(signals: Signals) -> np.ndarray:
    rc, ru = _ranks(signals)
    return rc * ru


def rank_add(signals: Signals) -> np.ndarray:
    rc, ru = _ranks(signals)
    return (rc + ru) / 2.0


def multiplicative(signals: Signals) -> np.ndarray:
    product = signals[0] * signals[1]
    top = product.max() if len(product) else 0.0
    return product / top if top > 0 else np.ones_like(product)


def composition_only(signals: Signals) -> np.ndarray:
    return percentile_ranks(signals[0])


def uniqueness_only(signals: Signals) -> np.ndarray:
    return percentile_ranks(signals[1])


METHODS: dict[str, Callable[[Signals], np.ndarray]] = {
    "rank_max": rank_max,
    "rank_multiply": rank_multiply,
    "rank_add": rank_add,
    "multiplicative": multiplicative,
    "composition_only": composition_only,
    "uniqueness_only": uniqueness_only,
}


def _signal(table: PatchTable, name: str, included: np.ndarray) -> np.ndarray:
    if name not in table:
        return np.zeros(int(included.sum()), dtype=np.float64)  # this method does not read it
    return np.asarray(table[name], dtype=np.float64)[included]


def compute_weights(table: PatchTable, config: BalanceConfig, progress: Progress | None = None) -> PatchTable:
    included = ~table["excluded"]
    signals = (_signal(table, "freq_cluster_weight", included), _signal(table, "uniqueness_score", included))
    weights = np.zeros(len(table), dtype=np.float64)
    weights[included] = np.maximum(METHODS[config.sampling_method](signals), config.weight_floor)
    if config.max_oversampling is not None:
        weights, met = cap_oversampling(weights, config.max_oversampling)
        if not met and progress is not None:
            progress.warning(
                f"The oversampling cap {config.max_oversampling:g} cannot be met: only {int(included.sum())} of "
                f"{len(weights)} patches can be drawn, so each is drawn {weights.max():.2f}× on average. "
                "They all get the same weight."
            )
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
