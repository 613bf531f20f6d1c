import numpy as np
import pytest

from balance_core.class_balance import class_balance

COUNTS = np.array([[90, 10], [100, 0], [50, 50]])


def test_equal_weights_give_the_raw_share():
    b = class_balance([0, 1], COUNTS, np.ones(3))
    np.testing.assert_allclose(b.raw_share, [240 / 300, 60 / 300])
    np.testing.assert_allclose(b.weighted_share, b.raw_share)
    assert b.patches_with_class.tolist() == [3, 2]
    assert b.effective_sample_size == pytest.approx(3.0) and b.max_oversampling == pytest.approx(1.0)


def test_all_weight_on_one_patch_gives_its_composition():
    b = class_balance([0, 1], COUNTS, np.array([0.0, 0.0, 2.0]))
    np.testing.assert_allclose(b.weighted_share, [0.5, 0.5])
    assert b.effective_sample_size == pytest.approx(1.0) and b.max_oversampling == pytest.approx(3.0)


def test_zero_weight_patches_count_for_nothing():
    b = class_balance([0, 1], COUNTS, np.array([1.0, 0.0, 1.0]))
    np.testing.assert_allclose(b.weighted_share, [140 / 200, 60 / 200])


def test_patch_level_fraction_range_ignores_unlabelled_patches():
    b = class_balance([0, 1], np.vstack([COUNTS, [[0, 0]]]), np.ones(4))
    np.testing.assert_allclose(b.min_fraction, [0.5, 0.0])
    np.testing.assert_allclose(b.max_fraction, [1.0, 0.5])
