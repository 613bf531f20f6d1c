import numpy as np
import pytest
from affine import Affine

from balance_core.errors import InvalidParameterError
from balance_core.grid import footprints, make_grid, window_offsets


def test_only_full_windows_fit():
    assert window_offsets(100, 32, 32).tolist() == [0, 32, 64]  # 96..100 would overflow
    assert window_offsets(100, 32, 16).tolist() == [0, 16, 32, 48, 64]
    assert window_offsets(32, 32, 32).tolist() == [0]


def test_grid_is_row_major_with_stable_ids():
    table = make_grid(width=70, height=40, patch_size=20, stride=20)
    assert len(table) == 6
    assert table["row_off"].tolist() == [0, 0, 0, 20, 20, 20]
    assert table["col_off"].tolist() == [0, 20, 40, 0, 20, 40]
    assert table["patch_id"].tolist() == list(range(6))
    assert set(table["patch_size"].tolist()) == {20}


def test_patch_larger_than_raster_is_refused_with_sizes():
    with pytest.raises(InvalidParameterError, match=r"256 px is larger than the raster \(100×300 px\)"):
        make_grid(width=100, height=300, patch_size=256, stride=256)


def test_footprints_follow_the_raster_transform():
    transform = Affine(0.5, 0, 1000.0, 0, -0.5, 2000.0)  # north-up, 0.5 m pixels
    rings = footprints(transform, np.array([0, 10]), np.array([4, 0]), 10)
    assert rings.shape == (2, 5, 2)
    np.testing.assert_allclose(rings[0, 0], [1002.0, 2000.0])
    np.testing.assert_allclose(rings[0, 2], [1007.0, 1995.0])
    np.testing.assert_allclose(rings[1, 0], [1000.0, 1995.0])
    np.testing.assert_allclose(rings[:, 0], rings[:, 4])  # closed rings


def test_footprints_handle_rotated_rasters():
    transform = Affine(0, 1.0, 10.0, 1.0, 0, 20.0)  # axes swapped
    ring = footprints(transform, np.array([2]), np.array([3]), 1)[0]
    np.testing.assert_allclose(ring[0], [12.0, 23.0])
