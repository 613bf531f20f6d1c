"""The k nearest *other* rows of a set of unit vectors, by cosine distance.

Every backend asks for k+1 neighbours and removes the query itself **by index**, not by
dropping column 0: with duplicate embeddings, the first hit may be a twin rather than
the query. Distances are 1 − cosine similarity, clipped at 0.

- `exact`: blocked matrix product + partial sort; chosen automatically up to 20,000 rows.
- `hnsw`: hnswlib graph search for candidates, then exact re-ranking in full dimension.
  Above 64 dimensions the graph is built on a 64-d PCA projection: building an HNSW graph
  at 768-d costs about as much as the exact search on a 2-core machine, while candidates
  from the projection, re-ranked exactly, keep the rank correlation with exact ≥ 0.99.
  Deterministic: the graph is built on one thread, so the insertion order and the level of
  each node (drawn from `seed`) are the same every run; a multi-threaded build inserts in
  the order threads happen to run and gave different scores run to run. Queries on the
  finished graph only read it, so they stay multi-threaded.
- `sklearn`: scikit-learn brute force (all cores).
- `faiss`: a flat inner-product index, when faiss is installed.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from .errors import DependencyError
from .progress import NullProgress, Progress, check_cancelled

EXACT_UP_TO = 20_000
BLOCK_BYTES = 256 << 20  # similarity block held at once by the exact search
PCA_DIMS = 64
PCA_SAMPLE = 20_000
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 80
HNSW_MIN_CANDIDATES = 32


def available(backend: str) -> bool:
    module = {"hnsw": "hnswlib", "faiss": "faiss", "sklearn": "sklearn"}.get(backend)
    return module is None or importlib.util.find_spec(module) is not None


def choose_backend(backend: str, n: int) -> str:
    if backend != "auto":
        if not available(backend):
            package = {"hnsw": "hnswlib (Debian: python3-hnswlib; pip: hnswlib)",
                       "faiss": "faiss (Debian: python3-faiss; pip: faiss-cpu)"}[backend]
            raise DependencyError(f"kNN backend {backend!r} needs {package}; install it or use backend 'auto'.")
        return backend
    if n <= EXACT_UP_TO:
        return "exact"
    return "hnsw" if available("hnsw") else "exact"


def nearest_others(
    unit: np.ndarray, k: int, backend: str = "auto", progress: Progress | None = None, seed: int = 42
) -> np.ndarray:
    """(N, k) cosine distances from each row to its k nearest other rows, ascending. Needs N > k."""
    progress = progress or NullProgress()
    n = len(unit)
    if not 0 < k < n:
        raise ValueError(f"need 0 < k < N, got k={k}, N={n}")
    name = choose_backend(backend, n)
    if name == "exact":
        return _exact(unit, k, progress)
    if name == "hnsw":
        return _hnsw(unit, k, progress, seed)
    if name == "sklearn":
        return _sklearn(unit, k)
    return _faiss(unit, k)


def _drop_self(labels: np.ndarray, distances: np.ndarray, k: int) -> np.ndarray:
    """Keep the first k candidates that are not the query (candidates sorted ascending)."""
    others = (labels != np.arange(len(labels))[:, None]) & (labels >= 0)
    keep = others & (np.cumsum(others, axis=1) <= k)
    return np.maximum(distances[keep].reshape(len(labels), k), 0.0)


def _top_k_of_block(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the k largest similarities per row, nearest first."""
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    part_sims = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-part_sims, axis=1)
    return np.take_along_axis(part, order, axis=1), 1.0 - np.take_along_axis(part_sims, order, axis=1)


def _exact(unit: np.ndarray, k: int, progress: Progress) -> np.ndarray:
    n = len(unit)
    block = max(1, BLOCK_BYTES // (4 * n))
    out = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block):
        check_cancelled(progress)
        stop = min(n, start + block)
        sims = unit[start:stop] @ unit.T
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # self, by index
        out[start:stop] = np.maximum(_top_k_of_block(sims, k)[1], 0.0)
        progress.set_fraction(stop / n)
    return out


def _pca(unit: np.ndarray, dims: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sample = unit[rng.choice(len(unit), min(len(unit), PCA_SAMPLE), replace=False)]
    mean = sample.mean(axis=0)
    centred = sample - mean
    _, vectors = np.linalg.eigh(centred.T @ centred)
    basis = np.ascontiguousarray(vectors[:, ::-1][:, :dims], dtype=np.float32)
    return np.ascontiguousarray(unit @ basis - mean @ basis, dtype=np.float32)  # no centred copy of `unit`


def _rerank(unit: np.ndarray, candidates: np.ndarray, k: int, progress: Progress) -> np.ndarray:
    """Exact cosine distances to the candidates, self removed by index, k nearest kept."""
    n = len(unit)
    out = np.empty((n, k), dtype=np.float32)
    block = 1024
    for start in range(0, n, block):
        check_cancelled(progress)
        stop = min(n, start + block)
        cand = candidates[start:stop]
        sims = np.einsum("bd,bkd->bk", unit[start:stop], unit[np.maximum(cand, 0)])
        sims[(cand == np.arange(start, stop)[:, None]) | (cand < 0)] = -np.inf
        out[start:stop] = np.maximum(_top_k_of_block(sims, k)[1], 0.0)
    return out


def _hnsw(unit: np.ndarray, k: int, progress: Progress, seed: int) -> np.ndarray:
    import hnswlib

    n, dim = unit.shape
    space = unit if dim <= PCA_DIMS else _pca(unit, PCA_DIMS, seed)
    m = min(n, max(HNSW_MIN_CANDIDATES, 4 * k) + 1)
    index = hnswlib.Index(space="l2", dim=space.shape[1])
    index.init_index(max_elements=n, ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M, random_seed=seed)
    index.set_num_threads(1)  # one insertion order: the same graph for the same inputs and seed
    chunk = 10_000
    for start in range(0, n, chunk):  # in chunks, for progress and cancel
        check_cancelled(progress)
        stop = min(n, start + chunk)
        index.add_items(space[start:stop], np.arange(start, stop))
        progress.set_fraction(0.6 * stop / n)
    index.set_ef(max(2 * m, 64))
    index.set_num_threads(os.cpu_count() or 1)  # queries only read the graph: any thread order gives the same answer
    candidates = np.empty((n, m), dtype=np.int64)
    for start in range(0, n, chunk):
        check_cancelled(progress)
        stop = min(n, start + chunk)
        candidates[start:stop] = index.knn_query(space[start:stop], k=m)[0]
        progress.set_fraction(0.6 + 0.3 * stop / n)
    return _rerank(unit, candidates, k, progress)


def _sklearn(unit: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute", n_jobs=-1).fit(unit)
    distances, labels = nn.kneighbors(unit)
    return _drop_self(labels, distances, k)


def _faiss(unit: np.ndarray, k: int) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(np.ascontiguousarray(unit, dtype=np.float32))
    sims, labels = index.search(np.ascontiguousarray(unit, dtype=np.float32), k + 1)
    return _drop_self(labels, 1.0 - sims, k)
