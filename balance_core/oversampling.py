"""Cap on oversampling: no patch drawn more than `max_factor` times as often as on average.

"As often as on average" is the mean weight over every row the sampler indexes (the CSV's
rows, excluded patches included with weight 0): with `num_samples = len(dataset)`, a patch
of weight w is drawn w / mean(w) times per epoch in expectation. The capped weights are
scaled so that this mean is 1, i.e. each weight *is* the expected draws per epoch.
"""
from __future__ import annotations

import numpy as np

from .errors import InvalidParameterError


def cap_oversampling(weights: np.ndarray, max_factor: float) -> tuple[np.ndarray, bool]:
    """min(s·w, max_factor) with s chosen so the mean over all rows is 1; zeros stay zero.

    Returns the weights and whether the cap could be met. It cannot when the included
    patches are too few (max_factor < N / N_included): all of them then get the same weight,
    the flattest distribution there is.
    """
    if max_factor < 1:
        raise InvalidParameterError(
            f"The oversampling cap must be at least 1 (1 = every usable patch equally often), got {max_factor}."
        )
    w = np.asarray(weights, dtype=np.float64)
    n, positive = len(w), w > 0
    n_pos = int(positive.sum())
    if n_pos == 0:
        return w.copy(), True
    if max_factor * n_pos < n:  # even all usable patches at the cap give a mean below 1
        out = np.where(positive, n / n_pos, 0.0)
        return out, False
    # Water filling: the j largest weights sit at the cap, the rest scale by s.
    order = np.sort(w[positive])[::-1]
    rest = np.cumsum(order[::-1])[::-1]  # rest[j] = sum of order[j:]
    for j in range(n_pos):
        s = (n - j * max_factor) / rest[j]
        if s * order[j] <= max_factor * (1 + 1e-12):
            return np.minimum(s * w, max_factor), True
    return np.where(positive, max_factor, 0.0), True  # unreachable: j = n_pos - 1 always fits
