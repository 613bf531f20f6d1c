"""Same inputs + seed = same uniqueness scores, whatever backend and however many threads."""
import numpy as np
import pytest

from balance_core import knn
from balance_core.ranking import percentile_ranks
from balance_core.uniqueness import uniqueness_scores

pytest.importorskip("hnswlib")


def noise(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Isotropic 64-d noise: the approximate search misses neighbours, so a graph built in another order
    finds other ones (a multi-threaded build changed thousands of these 20,000 scores between two runs)."""
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def test_hnsw_gives_byte_identical_scores_and_weights_on_20k_rows(monkeypatch):
    monkeypatch.setattr(knn.os, "cpu_count", lambda: 8)  # queries on many threads must not matter either
    vectors = noise(20_000, 64)
    first = uniqueness_scores(vectors, 5, "hnsw", seed=7)
    second = uniqueness_scores(vectors, 5, "hnsw", seed=7)
    assert np.isfinite(first).all() and first.std() > 0
    assert first.tobytes() == second.tobytes()
    assert percentile_ranks(first).tobytes() == percentile_ranks(second).tobytes()


def test_hnsw_build_runs_on_one_thread(monkeypatch):
    """The graph (not the queries) decides the candidates: it must be built in one insertion order."""
    import hnswlib

    calls = []

    class Recording:
        def __init__(self, *args, **kwargs):
            self._index = hnswlib_index(*args, **kwargs)
            self._threads = None

        def set_num_threads(self, threads):
            self._threads = threads
            self._index.set_num_threads(threads)

        def add_items(self, *args, **kwargs):
            calls.append(self._threads)
            self._index.add_items(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._index, name)

    hnswlib_index = hnswlib.Index
    monkeypatch.setattr(hnswlib, "Index", Recording)
    monkeypatch.setattr(knn.os, "cpu_count", lambda: 8)
    knn.nearest_others(noise(2_000, 16), 3, "hnsw")
    assert calls and set(calls) == {1}
