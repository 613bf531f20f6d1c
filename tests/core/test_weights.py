import numpy as np
import pytest

from balance_core.config import BalanceConfig
from balance_core.errors import AllExcludedError, InvalidParameterError
from balance_core.table import PatchTable
from balance_core.weights import check_sampler_safe, compute_weights


def scored(cluster_weight, excluded):
    return PatchTable({"freq_cluster_weight": np.asarray(cluster_weight, float), "excluded": np.asarray(excluded)})


def test_rare_clusters_weigh_more_ties_equal_excluded_zero():
    table = compute_weights(scored([0.25] * 4 + [1.0, 0.0], [False] * 5 + [True]), BalanceConfig(method="composition_only"))
    w = table["sampler_weight"]
    assert w[5] == 0.0
    assert len(set(w[:4])) == 1 and w[4] > w[0] > 0
    assert w[4] == 1.0


def test_floor_keeps_every_included_patch_drawable():
    table = compute_weights(scored(np.ones(10), [False] * 10), BalanceConfig(method="composition_only", weight_floor=0.9))
    assert (table["sampler_weight"] >= 0.9).all()


def test_sampler_safety_checks():
    with pytest.raises(ValueError):
        check_sampler_safe(np.array([1.0, np.nan]))
    with pytest.raises(ValueError):
        check_sampler_safe(np.array([1.0, -0.1]))
    with pytest.raises(AllExcludedError):
        check_sampler_safe(np.zeros(3))


def test_methods_are_refused_when_the_mode_does_not_compute_their_signal():
    with pytest.raises(InvalidParameterError, match="needs visual uniqueness.*use mode 'both'"):
        BalanceConfig(method="rank_max").validate()
    with pytest.raises(InvalidParameterError, match="needs class composition"):
        BalanceConfig(mode="embeddings_only", method="composition_only").validate()
    with pytest.raises(InvalidParameterError, match="Unknown sampling method"):
        BalanceConfig(method="bogus").validate()
    with pytest.raises(InvalidParameterError, match="Unknown mode"):
        BalanceConfig(mode="embeddings").validate()


def test_default_method_follows_the_mode():
    assert BalanceConfig().sampling_method == "class_balance"  # whenever composition is computed
    assert BalanceConfig(mode="both").sampling_method == "class_balance"
    assert BalanceConfig(mode="embeddings_only").sampling_method == "uniqueness_only"


def two_signals():
    """Five included patches and one excluded; composition and uniqueness disagree."""
    return PatchTable({
        "freq_cluster_weight": np.array([0.1, 0.1, 0.5, 1.0, 0.2, 9.0]),
        "uniqueness_score": np.array([0.4, 0.1, 0.1, 0.2, 0.3, np.nan]),
        "excluded": np.array([False] * 5 + [True]),
    })


EXPECTED = {
    # tie-aware percentile ranks among the 5 included: comp (1.5, 1.5, 4, 5, 3)/5, uniq (5, 1.5, 1.5, 3, 4)/5
    "composition_only": [0.3, 0.3, 0.8, 1.0, 0.6],
    "uniqueness_only": [1.0, 0.3, 0.3, 0.6, 0.8],
    "rank_max": [1.0, 0.3, 0.8, 1.0, 0.8],
    "rank_multiply": [0.3, 0.09, 0.24, 0.6, 0.48],
    "rank_add": [0.65, 0.3, 0.55, 0.8, 0.7],
    "multiplicative": [0.04 / 0.2, 0.01 / 0.2, 0.05 / 0.2, 1.0, 0.06 / 0.2],
}


@pytest.mark.parametrize("method", sorted(EXPECTED))
def test_every_combination_method(method):
    mode = {"composition_only": "masks_only", "uniqueness_only": "embeddings_only"}.get(method, "both")
    config = BalanceConfig(mode=mode, method=method, weight_floor=0.05).validate()
    w = compute_weights(two_signals(), config)["sampler_weight"]
    np.testing.assert_allclose(w[:5], np.maximum(EXPECTED[method], 0.05))
    assert w[5] == 0.0


def test_multiplicative_with_all_zero_scores_still_draws_every_patch():
    table = PatchTable({"freq_cluster_weight": np.ones(3), "uniqueness_score": np.zeros(3), "excluded": np.zeros(3, bool)})
    w = compute_weights(table, BalanceConfig(mode="both", method="multiplicative"))["sampler_weight"]
    assert np.all(w > 0)
