import os

import numpy as np
import pytest

from balance_core.config import BalanceConfig
from balance_core.errors import GridMismatchError, MaskTypeError, RasterReadError
from balance_core.pipeline import build_balanced_dataset
from balance_core.rasters import open_pair

pytestmark = pytest.mark.usefixtures("raster_backend")  # every test over both raster_io adapters


@pytest.fixture
def image(write_raster):
    return write_raster("image.tif", np.full((3, 40, 40), 100, np.uint8))


def test_matching_pair_opens(image, write_raster):
    pair = open_pair(image, write_raster("mask.tif", np.zeros((40, 40), np.uint8), nodata=255))
    assert (pair.width, pair.height, pair.image_bands, pair.mask_nodata) == (40, 40, 3, 255)
    assert "32631" in pair.crs_wkt or "UTM zone 31N" in pair.crs_wkt


def test_different_crs(image, write_raster):
    mask = write_raster("mask.tif", np.zeros((40, 40), np.uint8), crs="EPSG:32632")
    with pytest.raises(GridMismatchError, match="different CRS.*EPSG:32631.*EPSG:32632"):
        open_pair(image, mask)


def test_different_size(image, write_raster):
    with pytest.raises(GridMismatchError, match="image is 40×40 px, mask is 41×40 px"):
        open_pair(image, write_raster("mask.tif", np.zeros((40, 41), np.uint8)))


def test_different_origin(image, write_raster):
    mask = write_raster("mask.tif", np.zeros((40, 40), np.uint8), origin=(500000.5, 4500000.0))
    with pytest.raises(GridMismatchError, match=r"mask origin \(500000.5, 4500000.0\) vs image origin \(500000.0"):
        open_pair(image, mask)


def test_different_pixel_size(image, write_raster):
    mask = write_raster("mask.tif", np.zeros((40, 40), np.uint8), pixel=2.0)
    with pytest.raises(GridMismatchError, match="pixel size"):
        open_pair(image, mask)


def test_float_mask_is_refused(image, write_raster):
    with pytest.raises(MaskTypeError, match="float32 values; class labels must be integers"):
        open_pair(image, write_raster("mask.tif", np.zeros((40, 40), np.float32)))


def test_unreadable_file(image, tmp_path):
    bogus = tmp_path / "mask.tif"
    bogus.write_text("not a raster")
    with pytest.raises(RasterReadError, match="Cannot open the mask raster"):
        open_pair(image, str(bogus))
    with pytest.raises(RasterReadError, match="Cannot open the image raster"):
        open_pair(str(tmp_path / "missing.tif"), str(bogus))


def test_truncated_file_fails_with_the_rows_it_could_not_read(image, write_raster):
    rng = np.random.default_rng(0)
    path = write_raster("mask.tif", rng.integers(0, 3, (40, 40)).astype(np.uint8))
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(size - 1000)
    with pytest.raises(RasterReadError, match="truncated or corrupt"):
        build_balanced_dataset([(image, path)], BalanceConfig(patch_size=10, exclude_black_border=False))
