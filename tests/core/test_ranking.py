import numpy as np
from scipy.stats import rankdata

from balance_core.ranking import average_ranks, percentile_ranks


def test_equal_scores_get_equal_ranks():
    ranks = percentile_ranks(np.array([0.1, 0.5, 0.1, 0.1, 1.0]))
    assert ranks[0] == ranks[2] == ranks[3]
    assert ranks[4] == 1.0
    assert ranks[1] > ranks[0]


def test_matches_scipy_average_ranks_on_many_ties():
    values = np.random.default_rng(0).integers(0, 7, size=500).astype(float)
    np.testing.assert_allclose(average_ranks(values), rankdata(values, method="average"))


def test_percentile_ranks_are_in_zero_one():
    ranks = percentile_ranks(np.arange(10.0))
    assert ranks.min() > 0 and ranks.max() == 1.0


def test_empty_and_single():
    assert percentile_ranks(np.array([])).size == 0
    assert percentile_ranks(np.array([3.0])).tolist() == [1.0]


def test_reference_argsort_spreads_one_cluster_but_we_do_not():
    scores = np.array([0.5] * 4 + [1.0])  # one cluster of 4 and a singleton
    reference = np.argsort(np.argsort(scores)) / (len(scores) - 1)
    assert len(set(reference[:4])) == 4  # the reference gives identical patches 4 different weights
    assert len(set(percentile_ranks(scores)[:4])) == 1
