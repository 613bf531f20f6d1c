"""Instances per split and class, against scipy.ndimage.label on constructed masks."""
import numpy as np
import pytest
from scipy import ndimage

from balance_core.grid import make_grid
from balance_core.instances import EIGHT, StripComponents, count_instances

pytestmark = pytest.mark.usefixtures("raster_backend")  # every test over both raster_io adapters


@pytest.mark.parametrize("height", [1, 2, 3, 7, 64])
def test_strip_components_equal_one_labelling_of_the_whole(height):
    rng = np.random.default_rng(height)
    for density in (0.2, 0.45, 0.6):
        image = rng.random((64, 50)) < density
        counter = StripComponents()
        for r0 in range(0, 64, height):
            counter.add(image[r0:r0 + height])
        assert counter.count == ndimage.label(image, structure=EIGHT)[1]


def test_regions_joined_across_strips_through_a_diagonal_and_a_u_turn():
    image = np.zeros((6, 6), bool)
    image[0, 0] = image[1, 1] = True  # diagonal contact across the strip border
    image[0:5, 3] = image[0:5, 5] = image[4, 3:6] = True  # a U: two arms that only meet further down
    counter = StripComponents()
    for r0 in range(6):
        counter.add(image[r0:r0 + 1])
    assert counter.count == 2 == ndimage.label(image, structure=EIGHT)[1]


def _reference(mask, table, split, drawable, s, value):
    """scipy.ndimage.label of class `value` inside the union of split s's drawable windows."""
    cover = np.zeros(mask.shape, bool)
    for i in np.flatnonzero(drawable & (split == s)):
        r, c, k = table["row_off"][i], table["col_off"][i], table["patch_size"][i]
        cover[r:r + k, c:c + k] = True
    return ndimage.label((mask == value) & cover, structure=EIGHT)[1]


def test_instances_against_scipy_label_on_constructed_masks(write_raster):
    rng = np.random.default_rng(0)
    mask = np.zeros((96, 96), dtype=np.uint8)
    mask[rng.random((96, 96)) < 0.04] = 2  # scattered specks: many small instances
    for r, c in ((5, 5), (40, 60), (70, 10), (30, 30)):  # blobs, some across patch borders
        mask[r:r + 9, c:c + 13] = 1
    mask[60:62, :] = 3  # one long road crossing every column of patches
    mask[90:, 90:] = 255  # nodata: not a class
    path = write_raster("mask.tif", mask, nodata=255)
    grid = make_grid(96, 96, 24, 12)  # overlapping patches
    n = len(grid)
    table = grid.with_columns(image_path=np.full(n, "i.tif", dtype=object), mask_path=np.full(n, path, dtype=object))
    table = table.with_classes(np.array([0, 1, 2, 3]), np.ones((n, 4)))
    split = rng.integers(0, 3, n)
    drawable = rng.random(n) > 0.15
    counted = count_instances(table, split, drawable, 3, strip_pixels=96 * 10)  # strips of 10 rows
    for s in range(3):
        for j, value in enumerate([0, 1, 2, 3]):
            assert counted[s, j] == _reference(mask, table, split, drawable, s, value), (s, value)
    assert counted[:, 2].sum() > 100  # the specks were counted one by one


def test_a_region_in_several_overlapping_patches_counts_once(write_raster):
    mask = np.zeros((40, 40), dtype=np.uint8)
    mask[16:24, 16:24] = 1  # one pond in the middle: in all four overlapping 24 px patches
    path = write_raster("pond.tif", mask)
    grid = make_grid(40, 40, 24, 16)
    n = len(grid)
    assert n == 4
    table = grid.with_columns(image_path=np.full(n, "i.tif", dtype=object), mask_path=np.full(n, path, dtype=object))
    table = table.with_classes(np.array([0, 1]), np.ones((n, 2)))
    assert count_instances(table, np.zeros(n, int), np.ones(n, bool), 1)[0, 1] == 1
    # split across two splits: each holds a piece
    assert count_instances(table, np.array([0, 0, 1, 1]), np.ones(n, bool), 2)[:, 1].tolist() == [1, 1]
