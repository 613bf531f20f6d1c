"""Visual uniqueness: mean cosine distance from a patch's embedding to its k nearest
included neighbours. Excluded patches take no part (and get no score)."""
from __future__ import annotations

import numpy as np

from .config import BalanceConfig
from .knn import choose_backend, nearest_others
from .progress import NullProgress, Progress
from .table import PatchTable


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; an all-zero row stays zero (distance 1 to everything)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def uniqueness_scores(
    embeddings: np.ndarray, k: int, backend: str = "auto", progress: Progress | None = None, seed: int = 42
) -> np.ndarray:
    """Mean cosine distance to the k nearest other rows. With N ≤ k, all N − 1 others are used;
    a single row scores 0 (there is nothing to be unique against)."""
    progress = progress or NullProgress()
    n = len(embeddings)
    if n <= 1:
        return np.zeros(n, dtype=np.float64)
    k_used = min(k, n - 1)
    if k_used < k:
        progress.warning(f"Only {n} patches are included: uniqueness uses their {k_used} other(s), not {k}.")
    distances = nearest_others(unit_rows(embeddings), k_used, backend, progress, seed)
    return distances.astype(np.float64).mean(axis=1)


def compute_uniqueness(table: PatchTable, config: BalanceConfig, progress: Progress) -> PatchTable:
    included = ~table["excluded"]
    n = int(included.sum())
    if n > 1:
        progress.info(f"Uniqueness: {config.k_neighbors} nearest of {n} patches, "
                      f"{choose_backend(config.knn_backend, n)} search")
    scores = np.full(len(table), np.nan)
    scores[included] = uniqueness_scores(
        table["embedding"][included], config.k_neighbors, config.knn_backend, progress, config.seed
    )
    return table.with_columns(uniqueness_score=scores)
