import numpy as np
import pytest

from balance_core.config import BalanceConfig
from balance_core.errors import AllExcludedError, InvalidParameterError
from balance_core.table import PatchTable
from balance_core.weights import check_sampler_safe, compute_weights


def scored(cluster_weight, excluded):
    return PatchTable({"freq_cluster_weight": np.asarray(cluster_weight, float), "excluded": np.asarray(excluded)})


def test_rare_clusters_weigh_more_ties_equal_excluded_zero():
    table = compute_weights(scored([0.25] * 4 + [1.0, 0.0], [False] * 5 + [True]), BalanceConfig())
    w = table["sampler_weight"]
    assert w[5] == 0.0
    assert len(set(w[:4])) == 1 and w[4] > w[0] > 0
    assert w[4] == 1.0


def test_floor_keeps_every_included_patch_drawable():
    table = compute_weights(scored(np.ones(10), [False] * 10), BalanceConfig(weight_floor=0.9))
    assert (table["sampler_weight"] >= 0.9).all()


def test_sampler_safety_checks():
    with pytest.raises(ValueError):
        check_sampler_safe(np.array([1.0, np.nan]))
    with pytest.raises(ValueError):
        check_sampler_safe(np.array([1.0, -0.1]))
    with pytest.raises(AllExcludedError):
        check_sampler_safe(np.zeros(3))


def test_methods_needing_uniqueness_are_refused_before_work():
    with pytest.raises(InvalidParameterError, match="needs visual uniqueness"):
        BalanceConfig(method="rank_max").validate()
    with pytest.raises(InvalidParameterError, match="Unknown sampling method"):
        BalanceConfig(method="bogus").validate()


@pytest.mark.parametrize("settings, message", [
    (dict(patch_size=0), "Patch size"),
    (dict(stride=-1), "Stride"),
    (dict(k_min=5, k_max=4), "K min"),
    (dict(max_nodata_ratio=1.5), "nodata ratio"),
    (dict(min_entropy=-1.0), "entropy"),
    (dict(black_tolerance=-1.0), "tolerance"),
])
def test_invalid_settings_are_named(settings, message):
    with pytest.raises(InvalidParameterError, match=message):
        BalanceConfig(**settings).validate()
