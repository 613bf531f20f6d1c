import csv
import io

import numpy as np
import pytest

from balance_core.class_balance import CSV_HEADER, balance_csv, class_balance, imbalance_ratio, labelled_pixels
from balance_core.legend import ClassInfo

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


def test_excluded_patches_count_for_nothing_under_the_weights_but_count_raw():
    b = class_balance([0, 1], COUNTS, np.array([1.0, 5.0, 1.0]), excluded=np.array([False, True, False]))
    np.testing.assert_allclose(b.weighted_share, [140 / 200, 60 / 200])
    np.testing.assert_allclose(b.raw_share, [240 / 300, 60 / 300])
    assert (b.n_patches, b.n_drawable) == (3, 2)
    assert b.effective_sample_size == pytest.approx(2.0) and b.max_oversampling == pytest.approx(1.5)


def test_a_missing_weight_is_never_drawn():
    b = class_balance([0, 1], COUNTS, np.array([np.nan, 0.0, 1.0]))
    np.testing.assert_allclose(b.weighted_share, [0.5, 0.5])
    assert b.n_drawable == 1


def test_imbalance_is_largest_over_smallest_present_share():
    b = class_balance([0, 1, 2], np.array([[90, 10, 0], [50, 50, 0]]), np.array([1.0, 3.0]))
    assert b.raw_imbalance == pytest.approx(140 / 60)
    assert b.weighted_imbalance == pytest.approx((90 + 150) / (10 + 150))
    assert np.isnan(imbalance_ratio(np.array([1.0, 0.0])))


def test_labelled_pixels_from_layer_fields():
    np.testing.assert_allclose(labelled_pixels(np.array([10, 20]), np.array([0.5, 0.0]), 2), [50, 400])
    np.testing.assert_allclose(labelled_pixels(None, None, 3), [1, 1, 1])


def test_csv_names_classes_and_keeps_full_precision():
    b = class_balance([0, 1], COUNTS, np.ones(3))
    text = balance_csv(b, {1: ClassInfo(1, "building, dense", "#ff0000")}, {1: 0.5})
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(CSV_HEADER)
    assert rows[1][:2] == ["0", "0"] and rows[2][:2] == ["1", "building, dense"]
    assert rows[1][3] == "" and rows[2][3] == "0.5"  # target share: class_balance's, empty where none
    assert float(rows[2][2]) == b.raw_share[1] and rows[2][5] == "2"
    assert float(rows[2][7]) == 0.5
