import numpy as np
import pytest

from balance_core.clustering import clr, cluster_compositions, elbow
from balance_core.config import BalanceConfig
from balance_core.progress import NullProgress
from balance_core.table import PatchTable


def table_of(counts, excluded=None):
    counts = np.asarray(counts, dtype=np.int64)
    n = len(counts)
    excluded = np.zeros(n, bool) if excluded is None else np.asarray(excluded)
    return PatchTable({"excluded": excluded}).with_classes(np.arange(counts.shape[1]), counts)


def test_clr_rows_sum_to_zero_and_handle_zero_fractions():
    points = clr(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]))
    np.testing.assert_allclose(points.sum(axis=1), 0, atol=1e-12)
    assert np.isfinite(points).all()


def test_elbow_finds_the_knee():
    assert elbow([1, 2, 3, 4, 5, 6], [100, 20, 12, 10, 9, 8]) == 2
    assert elbow([4, 5], [10, 5]) == 5  # too few points for a knee: the larger K
    assert elbow([2, 3, 4], [5, 5, 5]) == 2  # flat curve: the smallest K


def test_cluster_size_and_weight():
    counts = [[100, 0]] * 6 + [[0, 100]] * 2 + [[50, 50]]
    table = cluster_compositions(table_of(counts), BalanceConfig(k=3), NullProgress())
    assert table["freq_cluster_size"].tolist() == [6] * 6 + [2, 2, 1]
    np.testing.assert_allclose(table["freq_cluster_weight"], [1 / 6] * 6 + [0.5, 0.5, 1.0])


def test_k_never_exceeds_distinct_compositions_binary_mask():
    counts = [[100, 0]] * 10 + [[90, 10]] * 3  # two distinct compositions, k_min 4
    progress = NullProgress()
    table = cluster_compositions(table_of(counts), BalanceConfig(), progress)
    assert set(table["freq_cluster_id"].tolist()) == {0, 1}
    fixed = NullProgress()
    cluster_compositions(table_of(counts), BalanceConfig(k=5), fixed)
    assert any("K = 5 exceeds the 2 distinct compositions" in w for w in fixed.warnings)


def test_single_patch_and_single_composition():
    one = cluster_compositions(table_of([[3, 1]]), BalanceConfig(), NullProgress())
    assert one["freq_cluster_size"].tolist() == [1]
    same = cluster_compositions(table_of([[5, 5]] * 4), BalanceConfig(), NullProgress())
    assert same["freq_cluster_size"].tolist() == [4] * 4


def test_excluded_patches_take_no_part():
    counts = [[100, 0]] * 4 + [[0, 100]] * 2
    table = cluster_compositions(table_of(counts, excluded=[True, True, True, False, False, False]),
                                 BalanceConfig(k=2), NullProgress())
    assert table["freq_cluster_id"][:3].tolist() == [-1, -1, -1]
    assert table["freq_cluster_size"].tolist() == [0, 0, 0, 1, 2, 2]
    assert table["freq_cluster_weight"][:3].tolist() == [0, 0, 0]


def test_deterministic_for_a_seed():
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 50, size=(300, 4))
    a = cluster_compositions(table_of(counts), BalanceConfig(seed=7), NullProgress())
    b = cluster_compositions(table_of(counts), BalanceConfig(seed=7), NullProgress())
    assert a["freq_cluster_id"].tolist() == b["freq_cluster_id"].tolist()


@pytest.mark.parametrize("k_max", [4, 8])
def test_elbow_k_within_range(k_max):
    rng = np.random.default_rng(5)
    centres = rng.dirichlet(np.ones(4), size=6)
    counts = np.vstack([rng.multinomial(400, c, size=40) for c in centres])
    table = cluster_compositions(table_of(counts), BalanceConfig(k_min=2, k_max=k_max), NullProgress())
    k = len(set(table["freq_cluster_id"].tolist()))
    assert 2 <= k <= k_max


def demo_table(patch: int) -> PatchTable:
    """The demo scene's mask cut into patches (class counts straight from the array, no raster)."""
    from balance_core.demo_scene import make_mask

    mask = make_mask()
    n = mask.shape[0] // patch
    tiles = mask.reshape(n, patch, n, patch).transpose(0, 2, 1, 3).reshape(n * n, -1)
    return table_of(np.stack([(tiles == v).sum(axis=1) for v in range(4)], axis=1))


@pytest.mark.parametrize("patch, seed", [(64, 42), (128, 0)])
def test_elbow_k_on_the_demo_scene_is_unchanged(patch, seed):
    """K as chosen before the search ran on one thread (6 at every patch size and seed tried)."""
    table = cluster_compositions(demo_table(patch), BalanceConfig(seed=seed), NullProgress())
    assert len(set(table["freq_cluster_id"].tolist())) == 6


def test_elbow_search_runs_on_one_thread_and_the_final_fit_as_before(monkeypatch):
    pytest.importorskip("sklearn.cluster")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from balance_core import clustering

    def threads():
        return {pool["internal_api"]: pool["num_threads"] for pool in threadpoolctl.threadpool_info()}

    before = threads()
    fits = []
    original = clustering._kmeans

    def watched(points, weights, k, seed, n_init=clustering.FINAL_N_INIT):
        fits.append((k, n_init, threads()))
        return original(points, weights, k, seed, n_init)

    monkeypatch.setattr(clustering, "_kmeans", watched)
    config = BalanceConfig(k_min=2, k_max=6)
    table = cluster_compositions(demo_table(128), config, NullProgress())
    *search, final = fits
    assert [k for k, _, _ in search] == [2, 3, 4, 5, 6]
    assert all(set(pools.values()) == {1} for _, _, pools in search)  # BLAS and OpenMP: one thread each
    assert all(n_init == clustering.SEARCH_N_INIT for _, n_init, _ in search)
    assert final[1] == clustering.FINAL_N_INIT and final[2] == before  # the final fit: the threads there were
    assert final[0] == len(set(table["freq_cluster_id"].tolist()))
    assert threads() == before
