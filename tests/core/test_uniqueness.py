"""Uniqueness on constructed embeddings: duplicates, an outlier, ties, N ≤ k, every backend."""
import numpy as np
import pytest
from scipy.stats import spearmanr

from balance_core import knn
from balance_core.errors import DependencyError
from balance_core.progress import NullProgress
from balance_core.uniqueness import compute_uniqueness, uniqueness_scores, unit_rows
from balance_core.config import BalanceConfig
from balance_core.table import PatchTable

BACKENDS = ["exact", "hnsw", "sklearn", "faiss"]


def brute_force(vectors, k):
    unit = unit_rows(vectors).astype(np.float64)
    dist = 1.0 - unit @ unit.T
    np.fill_diagonal(dist, np.inf)
    return np.sort(dist, axis=1)[:, :k].mean(axis=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_brute_force(backend):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 24))
    vectors = centres[rng.integers(0, 6, 400)] + rng.normal(scale=0.3, size=(400, 24))
    scores = uniqueness_scores(vectors, 5, backend)
    np.testing.assert_allclose(scores, brute_force(vectors, 5), atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_duplicates_remove_self_by_index_not_by_column(backend):
    """Three exact twins and a far point: each twin's nearest others are its two twins (distance 0)."""
    vectors = np.array([[1.0, 0, 0]] * 3 + [[0, 1.0, 0], [0, 0.9, 0.1], [0, 0, 1.0]])
    scores = uniqueness_scores(vectors, 2, backend)
    np.testing.assert_allclose(scores[:3], 0.0, atol=1e-6)
    np.testing.assert_allclose(scores, brute_force(vectors, 2), atol=1e-5)


def test_one_outlier_is_the_most_unique():
    rng = np.random.default_rng(1)
    vectors = np.vstack([rng.normal([5, 5, 5, 5], 0.1, size=(50, 4)), [[-5, 5, -5, 5]]])
    scores = uniqueness_scores(vectors, 5)
    assert np.argmax(scores) == 50
    assert scores[50] > 10 * np.median(scores[:50])


def test_ties_get_equal_scores():
    """Points on a regular ring: every point sees the same neighbourhood."""
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    vectors = np.stack([np.cos(angles), np.sin(angles), np.ones(12)], axis=1)
    scores = uniqueness_scores(vectors, 2)
    np.testing.assert_allclose(scores, scores[0], atol=1e-6)


def test_n_at_most_k_uses_all_others_and_warns():
    progress = NullProgress()
    vectors = np.array([[1.0, 0], [0.0, 1], [1.0, 1]])
    scores = uniqueness_scores(vectors, 5, progress=progress)
    np.testing.assert_allclose(scores, brute_force(vectors, 2), atol=1e-6)
    assert "uses their 2 other" in progress.warnings[0]
    assert uniqueness_scores(vectors[:1], 5).tolist() == [0.0]


def test_zero_vector_is_far_from_everything():
    scores = uniqueness_scores(np.array([[1.0, 0], [1.0, 0.01], [0.0, 0]]), 1)
    assert scores[2] == pytest.approx(1.0)


def test_hnsw_projection_and_reranking_track_exact_at_high_dimension():
    """Above 64 dimensions hnsw searches a PCA projection, then re-ranks exactly in full dimension."""
    rng = np.random.default_rng(2)
    n, dim = 3000, 256
    centres = rng.normal(size=(30, dim))
    spread = rng.uniform(0.2, 1.5, 30)
    labels = rng.integers(0, 30, n)
    basis = rng.normal(size=(30, 8, dim)) / np.sqrt(8)
    vectors = centres[labels] + spread[labels, None] * np.einsum("nk,nkd->nd", rng.normal(size=(n, 8)), basis[labels])
    exact = uniqueness_scores(vectors, 5, "exact")
    approx = uniqueness_scores(vectors, 5, "hnsw")
    assert spearmanr(exact, approx).correlation > 0.99
    assert np.all(approx >= exact - 1e-5)  # re-ranked true distances: never closer than the true k nearest


def test_auto_backend_is_exact_for_small_n_and_hnsw_for_large():
    assert knn.choose_backend("auto", 1000) == "exact"
    assert knn.choose_backend("auto", knn.EXACT_UP_TO + 1) == "hnsw"


def test_missing_backend_package_is_explained(monkeypatch):
    monkeypatch.setattr(knn, "available", lambda name: False)
    with pytest.raises(DependencyError, match="python3-faiss"):
        knn.choose_backend("faiss", 10)


def test_excluded_patches_take_no_part_and_get_no_score():
    embedding = np.array([[1.0, 0], [1.0, 0.01], [0.0, 1], [-1.0, 0]], dtype=np.float32)
    excluded = np.array([False, False, False, True])
    table = PatchTable({"excluded": excluded, "embedding": embedding})
    out = compute_uniqueness(table, BalanceConfig(mode="both", k_neighbors=1), NullProgress())
    scores = out["uniqueness_score"]
    assert np.isnan(scores[3])
    np.testing.assert_allclose(scores[:3], brute_force(embedding[:3], 1), atol=1e-6)
