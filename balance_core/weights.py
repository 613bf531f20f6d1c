"""Turn the signals into one `sampler_weight` per patch, safe for `WeightedRandomSampler`.

`class_balance` (the default with composition, `calibration`) sets the weights so that the class
shares one epoch draws reach a target under the oversampling cap. The other methods are kept for
comparison: two class-frequency samplers (`frequency_weights`) and the six rank methods below.

For the rank methods, both signals are compared on tie-aware percentile ranks among the *included* patches, so
their scales do not matter (cluster weights are 1/size, uniqueness is a cosine distance).
`multiplicative` is the exception the reference also makes: the product of the raw scores,
scaled so the largest is 1. Included patches never fall below the floor (so the sampler can
draw each of them); excluded patches get exactly 0.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Callable

import numpy as np

from .calibration import calibrate_class_balance, parse_target
from .config import BalanceConfig
from .errors import AllExcludedError, InvalidParameterError
from .frequency_weights import repeat_factor, sqrt_inverse_freq
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


def compute_weights(table: PatchTable, config: BalanceConfig, progress: Progress | None = None,
                    class_names: Mapping[int, str] | None = None) -> PatchTable:
    """`sampler_weight` by the configured method; excluded patches 0, included ones at least the floor."""
    included = ~table["excluded"]
    method = config.sampling_method
    if method == "class_balance":
        return _class_balance_weights(table, config, included, progress, class_names)
    weights = np.zeros(len(table), dtype=np.float64)
    if method in FREQUENCY_METHODS:
        raw = FREQUENCY_METHODS[method](table.class_counts, included, config)[included]
    else:
        signals = (_signal(table, "freq_cluster_weight", included), _signal(table, "uniqueness_score", included))
        raw = METHODS[method](signals)
    weights[included] = np.maximum(raw, config.weight_floor)
    cap = config.oversampling_cap
    if cap is not None:
        weights, met = cap_oversampling(weights, cap)
        if not met and progress is not None:
            progress.warning(
                f"The oversampling cap {cap:g} cannot be met: only {int(included.sum())} of "
                f"{len(weights)} patches can be drawn, so each is drawn {weights.max():.2f}× on average. "
                "They all get the same weight."
            )
    check_sampler_safe(weights)
    return table.with_columns(sampler_weight=weights)


FREQUENCY_METHODS: dict[str, Callable[[np.ndarray, np.ndarray, BalanceConfig], np.ndarray]] = {
    "repeat_factor": lambda counts, included, config: repeat_factor(counts, included, config.rfs_threshold),
    "sqrt_inverse_freq": lambda counts, included, config: sqrt_inverse_freq(counts, included),
}


def uniqueness_base(table: PatchTable, included: np.ndarray) -> np.ndarray | None:
    """class_balance's base weight from visual uniqueness: 0.5 + its tie-aware percentile rank.

    Ranks make the base scale-free (a cosine distance of 0.2 means nothing by itself); the most
    unique patch of a class gets 3× the base of the least unique, so uniqueness decides which
    patches carry a class's share while the calibration sets the shares.
    """
    if "uniqueness_score" not in table:
        return None
    scores = np.asarray(table["uniqueness_score"], dtype=np.float64)
    base = np.ones(len(table))
    base[included] = 0.5 + percentile_ranks(scores[included])
    return base


def _class_balance_weights(table, config, included, progress, class_names) -> PatchTable:
    if table.class_counts is None:
        raise InvalidParameterError("class_balance needs the class composition: run 'Compute class composition' first.")
    result = calibrate_class_balance(
        table.class_counts, included, base=uniqueness_base(table, included), target=parse_target(config.target),
        strength=config.balance_strength, max_oversampling=config.oversampling_cap, floor=config.weight_floor,
        class_values=table.class_values,
    )
    if progress is not None:
        message = result.message(class_names)
        (progress.info if result.reached else progress.warning)(message)
    check_sampler_safe(result.weights)
    return replace(table.with_columns(sampler_weight=result.weights), calibration=result)


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
