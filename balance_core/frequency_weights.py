"""Two published class-frequency samplers, kept for comparison with `class_balance`.

Both give raw (unnormalised) weights to the drawable patches and exactly 0 to excluded ones;
the floor and the oversampling cap are applied afterwards (`oversampling.cap_oversampling`),
as for the reference's six methods. Frequencies are measured over the drawable patches: those
are the ones the sampler can draw.
"""
from __future__ import annotations

import numpy as np

from .errors import InvalidParameterError


def _drawable(pixel_counts: np.ndarray, included: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = np.asarray(pixel_counts, dtype=np.float64)
    included = np.asarray(included, dtype=bool)
    if counts.ndim != 2 or len(counts) != len(included):
        raise ValueError("pixel_counts must be (n_patches, n_classes) with one `included` flag per patch")
    return counts, included


def repeat_factor(pixel_counts: np.ndarray, included: np.ndarray, threshold: float = 0.3) -> np.ndarray:
    """Repeat-factor sampling (LVIS, Gupta et al. 2019; detectron2's RepeatFactorTrainingSampler).

    r(c) = max(1, √(threshold / f(c))) with f(c) the fraction of drawable patches holding class c;
    a patch is repeated by the largest r over its classes (1 for a patch with no labelled pixel).
    Classes present in more than `threshold` of the patches are never repeated.
    """
    if not 0 < threshold <= 1:
        raise InvalidParameterError(f"The repeat-factor threshold must be in (0, 1], got {threshold}.")
    counts, included = _drawable(pixel_counts, included)
    weights = np.zeros(len(counts))
    holds = counts[included] > 0
    if not holds.shape[0]:
        return weights
    fraction = holds.mean(axis=0)
    with np.errstate(divide="ignore"):
        factor = np.maximum(1.0, np.sqrt(threshold / fraction))  # inf only for classes no patch holds
    weights[included] = np.max(np.where(holds, factor, 1.0), axis=1, initial=1.0)
    return weights


def sqrt_inverse_freq(pixel_counts: np.ndarray, included: np.ndarray) -> np.ndarray:
    """ω_i = Σ_c √(p_ic / f_c): the formula of the reference's `compute-sampler-weights`.

    p_ic is class c's fraction of patch i's labelled pixels and f_c = mean_i p_ic over the
    drawable patches (a mean of per-patch fractions, not a pixel share). A class no drawable
    patch holds adds nothing; a patch with no labelled pixel gets 0 (the floor lifts it).
    """
    counts, included = _drawable(pixel_counts, included)
    weights = np.zeros(len(counts))
    x = counts[included]
    if not len(x):
        return weights
    labelled = x.sum(axis=1, keepdims=True)
    p = np.divide(x, labelled, out=np.zeros_like(x), where=labelled > 0)
    f = p.mean(axis=0)
    weights[included] = np.sqrt(np.divide(p, f, out=np.zeros_like(p), where=f > 0)).sum(axis=1)
    return weights
