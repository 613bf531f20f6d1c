"""Core-set selection: each of the reference's six methods on a case small enough to compute by hand, and
against the reference's formulas as its code writes them (tools/coreset/coreset_scorer.py)."""
import numpy as np
import pytest

from balance_core import BalanceConfig
from balance_core.coreset import (
    CoresetSettings,
    budget_count,
    pool_mask,
    round_robin_rank,
    score_cb,
    score_fa,
    score_fd,
    score_lc,
    score_lc_fd,
    select_coreset,
    select_k_elbow,
    selected_class_balance,
)
from balance_core.errors import InvalidParameterError
from balance_core.table import PatchTable

LN2 = np.log(2.0)


def _table(fractions, excluded=None, entropy=None, size=16):
    fractions = np.asarray(fractions, dtype=np.float64)
    n = len(fractions)
    table = PatchTable({"patch_id": np.arange(n), "patch_size": np.full(n, size),
                        "excluded": np.zeros(n, bool) if excluded is None else np.asarray(excluded, bool)})
    table = table.with_fractions(np.arange(fractions.shape[1]), fractions, np.full(n, size * size, float))
    if entropy is not None:
        table = table.with_columns(class_entropy=np.asarray(entropy, dtype=np.float64))
    return table


def test_lc_is_entropy_over_the_largest_entropy():
    np.testing.assert_allclose(score_lc([0.0, 0.5, 1.0, 0.25]), [0.0, 0.5, 1.0, 0.25])
    np.testing.assert_array_equal(score_lc([0.0, 0.0]), [0.0, 0.0])  # all single-class: all 0, as the reference
    table = _table([[1, 0]] * 4, entropy=[0.0, np.nan, 2.0, 1.0])  # an empty entropy counts as 0
    out = select_coreset(table, CoresetSettings("lc", budget=0.5))
    np.testing.assert_allclose(out["coreset_score"], [0.0, 0.0, 1.0, 0.5])
    np.testing.assert_array_equal(out["coreset_selected"], [False, False, True, True])


def test_cb_greedy_by_hand():
    # A = all class 0, B = all class 1, C = half and half. Step 1: C (entropy ln 2, the others 0);
    # step 2: A and B both give shares (.75, .25): the first, A; step 3: B. The t-th of N scores (N − t)/(N − 1).
    fractions = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
    np.testing.assert_allclose(score_cb(fractions, 3), [0.5, 0.0, 1.0])
    np.testing.assert_allclose(score_cb(fractions, 1), [0.0, 0.0, 1.0])  # stops at the budget: the rest 0
    out = select_coreset(_table(fractions), CoresetSettings("cb", budget=1, budget_mode="count"))
    np.testing.assert_array_equal(out["coreset_selected"], [False, False, True])


def test_cb_against_the_references_formula():
    rng = np.random.default_rng(5)
    fractions = rng.dirichlet([0.3, 1.0, 0.5, 2.0], size=40)
    count = 15
    # the reference: entropy of the summed shares with ln(p + 1e-12), argmax = the first best
    rank, chosen, total = np.zeros(40), np.zeros(40, bool), np.zeros(4)
    for t in range(1, count + 1):
        left = np.where(~chosen)[0]
        cand = total + fractions[left]
        props = cand / cand.sum(axis=1, keepdims=True)
        best = left[np.argmax(-np.sum(props * np.log(props + 1e-12), axis=1))]
        rank[best], chosen[best] = 40 - t, True
        total += fractions[best]
    np.testing.assert_allclose(score_cb(fractions, count), rank / 39, rtol=0, atol=0)


def test_fa_follows_the_references_code_by_hand():
    # μ, σ of each embedding's values: [0,2] → 1, 1: γ = 0; [1,1] → 1, 0: γ = −0·ln(1e−12) = 0;
    # [0,1] → .5, .5: γ = −.5·ln .5 = ln2/2; [0,4] → 2, 2: γ = −(1 − 2)·ln 2 = ln 2. Score = 1 − γ/ln 2.
    embeddings = np.array([[0, 2], [1, 1], [0, 1], [0, 4]], dtype=np.float32)
    np.testing.assert_allclose(score_fa(embeddings), [1.0, 1.0, 0.5, 0.0], atol=1e-6)
    np.testing.assert_array_equal(score_fa(np.ones((3, 4), np.float32)), [0.0, 0.0, 0.0])  # all γ equal: 0


def test_fa_against_the_references_formula():
    rng = np.random.default_rng(1)
    embeddings = rng.normal(0.2, 0.5, size=(50, 16)).astype(np.float32)
    mu, sigma = embeddings.mean(axis=1), embeddings.std(axis=1)
    gamma = -(1.0 - mu.astype(np.float64)) * np.log(sigma.astype(np.float64) + 1e-12)
    expected = np.clip(1.0 - (gamma - gamma.min()) / (gamma.max() - gamma.min()), 0.0, 1.0)
    np.testing.assert_array_equal(score_fa(embeddings), expected)


def _two_blobs(n_each=5):
    rng = np.random.default_rng(2)
    a = rng.normal(0, 0.01, size=(n_each, 8)) + 5.0
    b = rng.normal(0, 0.01, size=(n_each, 8)) - 5.0
    return np.vstack([a, b]).astype(np.float32)


def test_fd_takes_clusters_in_turn():
    vectors = _two_blobs()
    scores = score_fd(vectors, CoresetSettings("fd", fd_k_min=2, fd_k_max=2))
    np.testing.assert_allclose(np.sort(scores), np.arange(10) / 9)  # every position once
    order = np.argsort(-scores)
    blob = (order >= 5).astype(int)
    assert (blob[::2] != blob[1::2]).all()  # round robin: each pair of picks spans both blobs


def test_fd_against_the_references_formula():
    pytest.importorskip("sklearn")
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(4)
    vectors = np.vstack([rng.normal(c, 0.3, size=(12, 6)) for c in (-3, 0, 3)]).astype(np.float32)
    settings = CoresetSettings("fd", fd_k_min=2, fd_k_max=6)
    inertias = [KMeans(n_clusters=k, random_state=42, n_init="auto").fit(vectors).inertia_ for k in range(2, 7)]
    k = select_k_elbow(inertias, 2)
    labels = KMeans(n_clusters=k, random_state=42, n_init="auto").fit(vectors).labels_
    # the reference's round robin: clusters in RandomState(42).permutation order, each shuffled by the same rng
    rs = np.random.RandomState(42)
    lists = {c: [i for i in range(len(labels)) if labels[i] == c] for c in range(k)}
    queues = []
    for c in rs.permutation(k).tolist():
        q = list(lists[c])
        rs.shuffle(q)
        queues.append(q)
    rank, t = np.zeros(len(labels)), len(labels) - 1
    while any(queues):
        for q in queues:
            if q and t >= 0:
                rank[q.pop(0)] = t
                t -= 1
    np.testing.assert_array_equal(score_fd(vectors, settings), rank / (len(labels) - 1))
    np.testing.assert_array_equal(round_robin_rank(labels, k), rank)


def test_elbow_rule_by_hand():
    # inertias 100, 20, 15, 12 normalised → the point farthest from the chord is the second (K = k_min + 1)
    assert select_k_elbow([100.0, 20.0, 15.0, 12.0], 4) == 5
    assert select_k_elbow([7.0], 3) == 3


def test_lc_fd_first_m_by_fd_then_the_rest_by_lc():
    vectors = _two_blobs()
    entropy = np.array([0.1, 0.9, 0.3, 0.3, 0.0, 0.5, 0.2, 0.8, 0.4, 0.6])
    settings = CoresetSettings("lc_fd", fd_k_min=2, fd_k_max=2, lc_fd_cutoff_m=2)
    fd = score_fd(vectors, settings)
    top = list(np.argsort(-fd)[:2])
    rest = [i for i in np.argsort(-entropy, kind="stable") if i not in top]  # ties (0.3, 0.3): row order
    expected = np.zeros(10)
    expected[top + rest] = (9 - np.arange(10)) / 9
    np.testing.assert_allclose(score_lc_fd(entropy, vectors, settings), expected)


def test_fa_cb_mixes_by_lambda():
    fractions = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.9, 0.1]]
    embeddings = np.array([[0, 2], [1, 1], [0, 1], [0, 4]], dtype=np.float32)
    table = _table(fractions)
    settings = CoresetSettings("fa_cb", budget=1.0, fa_cb_lambda=0.25)
    out = select_coreset(table, settings, embeddings=embeddings)
    expected = 0.25 * score_fa(embeddings) + 0.75 * score_cb(np.array(fractions), 4)
    np.testing.assert_allclose(out["coreset_score"], expected)


def test_budget_as_fraction_or_count_and_excluded_never_selected():
    assert budget_count(CoresetSettings(budget=0.3), 10) == 3
    assert budget_count(CoresetSettings(budget=0.01), 10) == 1  # at least one
    assert budget_count(CoresetSettings(budget=25, budget_mode="count"), 10) == 10  # at most the pool
    table = _table([[1, 0]] * 6, excluded=[True, False, True, False, False, False], entropy=[9, 1, 8, 2, 3, 4])
    out = select_coreset(table, CoresetSettings("lc", budget=0.5))
    assert not out["coreset_selected"][[0, 2]].any() and np.isnan(out["coreset_score"][[0, 2]]).all()
    np.testing.assert_array_equal(np.flatnonzero(out["coreset_selected"]), [4, 5])  # 2 of the 4 in the pool
    with pytest.raises(InvalidParameterError):
        CoresetSettings(budget=1.5).validate()


def test_low_entropy_patches_return_to_the_pool_on_request():
    table = _table([[1, 0], [0.5, 0.5], [1, 0]], excluded=[True, False, True], entropy=[0, LN2, 0]).with_columns(
        excl_low_entropy=np.array([True, False, False]), excl_border_nodata=np.array([False, False, True]))
    np.testing.assert_array_equal(pool_mask(table, True), [False, True, False])
    np.testing.assert_array_equal(pool_mask(table, False), [True, True, False])  # the border one stays out


def test_class_balance_over_the_selected_patches_only():
    fractions = [[1, 0], [0.9, 0.1], [0.5, 0.5], [1, 0], [0.99, 0.01]]
    table = _table(fractions).with_columns(coreset_selected=np.array([True, True, True, False, False]))
    out = selected_class_balance(table, BalanceConfig(max_oversampling=5))
    weights = out["sampler_weight"]
    assert (weights[3:] == 0).all() and (weights[:3] > 0).all()
    assert weights[:3].mean() == pytest.approx(1.0)
    drawn = (np.asarray(fractions)[:3] * weights[:3, None]).sum(axis=0)
    assert drawn[1] / drawn.sum() == pytest.approx(0.5, abs=0.02)  # uniform target (raw 0.2) on the selection
