"""Composition clusters: CLR of class fractions → KMeans → score 1 / cluster size.

Only included patches are clustered. Identical compositions (typically thousands of
pure-background patches) are clustered once with their multiplicity as sample weight,
which gives the same clusters as clustering every row, much faster.
"""
from __future__ import annotations

import numpy as np

from .config import BalanceConfig
from .dependencies import require
from .progress import Progress, check_cancelled
from .table import PatchTable

CLR_EPS = 1e-6
ELBOW_SAMPLE = 50_000  # distinct compositions used to scan K; the final fit uses all


def clr(fractions: np.ndarray, eps: float = CLR_EPS) -> np.ndarray:
    """Centred log-ratio: log of each part minus the mean log of the row."""
    logs = np.log(fractions + eps)
    return logs - logs.mean(axis=1, keepdims=True)


def elbow(ks: list[int], inertias: list[float]) -> int:
    """K at the point of the inertia curve farthest below the chord from first to last point."""
    if len(ks) < 3:
        return ks[-1]
    x = np.asarray(ks, dtype=float)
    y = np.asarray(inertias, dtype=float)
    span = y[0] - y[-1]
    if span <= 0:
        return ks[0]
    xn = (x - x[0]) / (x[-1] - x[0])
    yn = (y - y[-1]) / span
    distance = (1.0 - xn) - yn  # chord runs from (0, 1) to (1, 0)
    return ks[int(np.argmax(distance))]


FINAL_N_INIT = 4  # initialisations of the final fit at the chosen K
# per K while scanning for the elbow: one initialisation changed the chosen K on 13 of 27 cuts of the test data,
# the demo scene and 155,000 generated patches (the inertia curve moves with the start); four keep every K
SEARCH_N_INIT = FINAL_N_INIT


def _kmeans(points: np.ndarray, weights: np.ndarray, k: int, seed: int, n_init: int = FINAL_N_INIT):
    KMeans = require("sklearn.cluster", "the composition clusters").KMeans  # the plugin loads without it

    return KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(points, sample_weight=weights)


def _one_thread():
    """A context in which the BLAS and OpenMP pools run one thread (threadpoolctl comes with scikit-learn).

    The elbow search fits many small problems: OpenMP's threads spin and wait on each other for each of them,
    which costs seconds when other work holds the cores, and a tenth of that on one thread."""
    threadpoolctl = require("threadpoolctl", "the composition clusters")
    return threadpoolctl.threadpool_limits(limits=1)


def choose_k(points: np.ndarray, weights: np.ndarray, config: BalanceConfig, progress: Progress) -> int:
    n_distinct = len(points)
    if config.k:
        if config.k > n_distinct:
            progress.warning(
                f"K = {config.k} exceeds the {n_distinct} distinct compositions of included patches; "
                f"using K = {n_distinct}."
            )
        return min(config.k, n_distinct)
    ks = list(range(min(config.k_min, n_distinct), min(config.k_max, n_distinct) + 1))
    if len(ks) == 1:
        return ks[0]
    if n_distinct > ELBOW_SAMPLE:
        pick = np.random.default_rng(config.seed).choice(n_distinct, ELBOW_SAMPLE, replace=False)
        points, weights = points[pick], weights[pick]
    inertias = []
    with _one_thread():
        for i, k in enumerate(ks):
            check_cancelled(progress)
            inertias.append(float(_kmeans(points, weights, k, config.seed, SEARCH_N_INIT).inertia_))
            progress.set_fraction((i + 1) / (len(ks) + 1))
    return elbow(ks, inertias)


def cluster_compositions(table: PatchTable, config: BalanceConfig, progress: Progress) -> PatchTable:
    """Add `freq_cluster_id`, `freq_cluster_size`, `freq_cluster_weight` (-1, 0, 0 when excluded)."""
    n = len(table)
    included = ~table["excluded"]
    cluster_id = np.full(n, -1, dtype=np.int64)
    cluster_size = np.zeros(n, dtype=np.int64)
    cluster_weight = np.zeros(n, dtype=np.float64)

    points = clr(table.fractions()[included])
    distinct, inverse, multiplicity = np.unique(points, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    k = choose_k(distinct, multiplicity.astype(np.float64), config, progress)
    check_cancelled(progress)
    if k == 1:
        labels_distinct = np.zeros(len(distinct), dtype=np.int64)
    else:
        labels_distinct = _kmeans(distinct, multiplicity.astype(np.float64), k, config.seed).labels_
    labels = labels_distinct[inverse]
    sizes = np.bincount(labels, minlength=k)
    cluster_id[included] = labels
    cluster_size[included] = sizes[labels]
    cluster_weight[included] = 1.0 / sizes[labels]
    progress.info(f"Composition clusters: K = {k}, sizes {sorted(sizes.tolist(), reverse=True)}")
    progress.set_fraction(1.0)
    return table.with_columns(
        freq_cluster_id=cluster_id, freq_cluster_size=cluster_size, freq_cluster_weight=cluster_weight
    )
