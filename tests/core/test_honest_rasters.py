"""Rasters as QGIS shows them: footprints of a raster without georeferencing, and inputs given in the wrong role."""
import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.errors import NotGeoreferencedWarning

from balance_core.config import BalanceConfig
from balance_core.dataset import dataset_footprints, open_dataset
from balance_core.errors import GridMismatchError
from balance_core.pipeline import grid_step
from balance_core.progress import NullProgress
from balance_core.rasters import open_pair

pytestmark = pytest.mark.usefixtures("raster_backend")  # every test over both raster_io adapters


@pytest.fixture
def bare_raster(tmp_path):
    """Write a GeoTIFF with no geotransform and no CRS (like a PNG from a labelling tool)."""
    def write(name, array, **extra):
        array = np.asarray(array)
        array = array[None] if array.ndim == 2 else array
        path = str(tmp_path / name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
                               count=array.shape[0], dtype=array.dtype, **extra) as dst:
                dst.write(array)
        return path

    return write


def test_footprints_of_a_raster_without_georeferencing_sit_where_qgis_draws_it(bare_raster):
    image = bare_raster("image.tif", np.full((3, 48, 64), 90, np.uint8))
    mask = bare_raster("mask.tif", np.ones((48, 64), np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        progress = NullProgress()
        dataset = open_dataset([(image, mask)], progress)
        rings = dataset_footprints(grid_step(dataset, BalanceConfig(patch_size=16)), dataset)
    pair = dataset.pairs[0]
    assert not pair.georeferenced and pair.transform == Affine(1, 0, 0, 0, -1, 0)
    # QGIS places such a raster at x 0..width, y −height..0 (geotransform (0, 1, 0, 0, 0, −1))
    assert (rings[..., 0].min(), rings[..., 1].min(), rings[..., 0].max(), rings[..., 1].max()) == (0, -48, 64, 0)
    first = rings[0]  # patch (row 0, col 0): the top-left corner of the raster
    assert first[:, 0].min() == 0 and first[:, 1].max() == 0 and first[:, 1].min() == -16


def test_an_explicit_identity_geotransform_is_kept(write_raster):
    """(0, 1, 0, 0, 0, 1) written on purpose is a real (south-up) geotransform: QGIS uses it as it is."""
    image = write_raster("image.tif", np.full((3, 32, 32), 90, np.uint8), transform=Affine.identity())
    mask = write_raster("mask.tif", np.ones((32, 32), np.uint8), transform=Affine.identity())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        pair = open_pair(image, mask)
    assert pair.georeferenced and pair.transform == Affine.identity()


def test_a_georeferenced_image_with_a_bare_mask_is_named(write_raster, bare_raster):
    image = write_raster("image.tif", np.full((3, 32, 32), 90, np.uint8))
    mask = bare_raster("mask.tif", np.ones((32, 32), np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with pytest.raises(GridMismatchError, match="mask raster .*mask.tif' has no georeferencing while the image has"):
            open_pair(image, mask)


def test_a_raster_placed_only_by_control_points_is_refused(bare_raster):
    gcps = [GroundControlPoint(row=r, col=c, x=500000.0 + c, y=4500000.0 - r) for r, c in ((0, 0), (0, 32), (32, 0))]
    image = bare_raster("image.tif", np.full((3, 32, 32), 90, np.uint8))
    mask = bare_raster("mask.tif", np.ones((32, 32), np.uint8))
    with rasterio.open(image, "r+") as dst:
        dst.gcps = (gcps, rasterio.crs.CRS.from_epsg(32631))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with pytest.raises(GridMismatchError, match="ground control points"):
            open_pair(image, mask)


def test_swapped_image_and_mask_are_named(data_dir):
    image, labels = str(data_dir / "lyon/image_rgb.tif"), str(data_dir / "lyon/labels.tif")
    progress = NullProgress()
    open_dataset([(labels, image)], progress)  # the labels given as image, the imagery as mask
    assert len(progress.warnings) == 1
    assert "has 3 bands" in progress.warnings[0] and "were image and mask swapped?" in progress.warnings[0]
    quiet = NullProgress()
    open_dataset([(image, labels)], quiet)
    assert quiet.warnings == []


def test_a_mask_with_hundreds_of_values_looks_like_imagery(data_dir):
    pan, labels = str(data_dir / "atlanta/image_pan.tif"), str(data_dir / "atlanta/labels.tif")
    progress = NullProgress()
    open_dataset([(labels, pan)], progress)  # a 16-bit panchromatic band as "mask"
    assert len(progress.warnings) == 1
    assert "looks like imagery, not class labels" in progress.warnings[0] and "swapped" in progress.warnings[0]
    quiet = NullProgress()
    open_dataset([(pan, labels)], quiet)
    assert quiet.warnings == []


def test_a_label_like_image_with_a_grey_mask_is_named(write_raster):
    labels = np.random.default_rng(0).integers(0, 4, (64, 64)).astype(np.uint8)
    grey = np.random.default_rng(1).integers(0, 200, (64, 64)).astype(np.uint8)
    progress = NullProgress()
    open_dataset([(write_raster("labels.tif", labels), write_raster("grey.tif", grey))], progress)
    assert len(progress.warnings) == 1
    assert "labels.tif' looks like a label raster (one integer band, 4 distinct values)" in progress.warnings[0]


def test_a_label_mask_with_many_classes_beside_a_real_image_is_only_noted_once(write_raster):
    """A 16-bit mask may hold hundreds of classes: a warning, not an error; the run goes on."""
    mask = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 400
    image = write_raster("image.tif", np.random.default_rng(0).integers(0, 255, (3, 64, 64)).astype(np.uint8))
    progress = NullProgress()
    dataset = open_dataset([(image, write_raster("mask.tif", mask))], progress)
    assert len(dataset.pairs) == 1 and len(progress.warnings) == 1
    assert "400 distinct values" in progress.warnings[0] and "Is it the right raster?" in progress.warnings[0]


def test_many_swapped_pairs_give_a_few_warnings_and_a_count(data_dir, tmp_path):
    import shutil

    pairs = []
    for i in range(8):
        img, lab = tmp_path / f"img{i}.tif", tmp_path / f"lab{i}.tif"
        shutil.copy(data_dir / "lyon/image_rgb.tif", img)
        shutil.copy(data_dir / "lyon/labels.tif", lab)
        pairs.append((str(lab), str(img)))
    progress = NullProgress()
    open_dataset(pairs, progress)
    assert len(progress.warnings) == 6 and progress.warnings[-1].startswith("… and 3 more")
