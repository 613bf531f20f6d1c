"""Image nodata (NaN, the band's nodata value) is a hole, not 'visually unique': it is excluded, and never reaches a vector."""
import numpy as np
import pytest

from balance_core.config import BalanceConfig
from balance_core.dataset import embed_dataset, open_dataset
from balance_core.descriptor import DescriptorEmbedder
from balance_core.errors import EmbedderError
from balance_core.exclusion import FLAG_COLUMNS
from balance_core.image_patches import BandScaling, band_scaling
from balance_core.patch_records import table_from_records
from balance_core.pipeline import build_balanced_dataset, composition_step, grid_step
from balance_core.progress import NullProgress
from balance_core.schema import output_columns

pytestmark = pytest.mark.usefixtures("raster_backend")  # every test over both raster_io adapters

EMBEDDINGS = dict(patch_size=16, mode="embeddings_only", embedder="descriptor", k_neighbors=3)


def collared(write_raster, dtype=np.float32, nodata=None):
    """64×64 random image whose last 8 columns are NaN (a collar) and one NaN hole inside patch (16, 16)."""
    rng = np.random.default_rng(0)
    image = rng.uniform(10, 200, (3, 64, 64)).astype(dtype)
    image[:, :, 56:] = np.nan
    image[1, 22, 21] = np.nan  # one band, inside the window (16, 16): not on its border
    return write_raster("image.tif", image, nodata=nodata), write_raster("mask.tif", np.ones((64, 64), np.uint8))


def test_nan_collar_and_hole_are_excluded_not_most_unique(write_raster):
    image, mask = collared(write_raster)
    table, _ = build_balanced_dataset([(image, mask)], BalanceConfig(**EMBEDDINGS))
    touched = (table["col_off"] == 48) | ((table["row_off"] == 16) & (table["col_off"] == 16))
    assert table["excl_image_nodata"].tolist() == touched.tolist()
    assert table["excluded"][touched].all() and (table["sampler_weight"][touched] == 0).all()
    scores = table["uniqueness_score"][~touched]
    assert np.isfinite(scores).all() and scores.max() < 1.0
    assert "excl_image_nodata" in FLAG_COLUMNS
    assert "excl_image_nodata" in [c.name for c in output_columns(table)]


def test_without_the_rule_nan_pixels_still_never_reach_a_vector(write_raster):
    image, mask = collared(write_raster)
    config = BalanceConfig(**EMBEDDINGS, exclude_image_nodata=False)
    table, _ = build_balanced_dataset([(image, mask)], config)
    assert not table["excl_image_nodata"].any() and not table["excluded"].any()
    assert np.isfinite(table["uniqueness_score"]).all() and table["uniqueness_score"].max() < 1.0


def test_declared_nodata_value_in_any_band_flags_the_patch(write_raster):
    image = np.full((3, 32, 32), 500, np.uint16)
    image[2, 20, 5] = 65535  # band 3 only, inside patch (16, 0)
    path = write_raster("image.tif", image, nodata=65535)
    mask = write_raster("mask.tif", np.ones((32, 32), np.uint8))
    dataset = open_dataset([(path, mask)])
    config = BalanceConfig(patch_size=16)
    table = composition_step(grid_step(dataset, config), dataset, config, NullProgress())
    assert table["excl_image_nodata"].tolist() == [False, False, True, False]
    assert table["excluded"].tolist() == [False, False, True, False]


def test_integer_image_without_nodata_has_nothing_to_flag(write_raster):
    image = write_raster("image.tif", np.zeros((3, 32, 32), np.uint8))  # black, but no nodata declared
    mask = write_raster("mask.tif", np.ones((32, 32), np.uint8))
    dataset = open_dataset([(image, mask)])
    config = BalanceConfig(patch_size=16, exclude_black_border=False)
    table = composition_step(grid_step(dataset, config), dataset, config, NullProgress())
    assert not table["excl_image_nodata"].any()


def test_a_nodata_value_that_is_also_common_pixel_value_is_warned_about(write_raster):
    image = np.full((3, 32, 32), 40, np.uint8)
    image[0, ::4, ::4] = 0  # dark pixels in one band everywhere, and 0 is declared nodata
    path = write_raster("image.tif", image, nodata=0)
    dataset = open_dataset([(path, write_raster("mask.tif", np.ones((32, 32), np.uint8)))])
    config, progress = BalanceConfig(patch_size=16), NullProgress()
    composition_step(grid_step(dataset, config), dataset, config, progress)
    assert any("EXCLUDE_IMAGE_NODATA" in w and "4 of 4 patches" in w for w in progress.warnings)


def test_scaling_fills_nan_and_nodata_with_zero():
    raw = np.full((1, 3, 4, 4), 100.0, np.float32)
    raw[0, 0, 0, 0] = np.nan
    raw[0, 1, 1, 1] = np.inf
    raw[0, 2, 2, 2] = -9999.0
    scaled = BandScaling((0.0, 0.0, 0.0), (200.0, 200.0, 200.0), (None, None, -9999.0)).apply(raw)
    assert np.isfinite(scaled).all()
    assert scaled[0, 0, 0, 0] == 0 and scaled[0, 1, 1, 1] == 0 and scaled[0, 2, 2, 2] == 0 and scaled[0, 0, 3, 3] == 0.5
    white = np.full((1, 3, 2, 2), 255, np.uint8)
    assert BandScaling((0.0,) * 3, (255.0,) * 3, (255, 255, 255)).apply(white).max() == 0


def test_cache_key_changes_only_where_the_fill_changes_pixels(write_raster):
    rgb = np.full((3, 8, 8), 7, np.uint8)
    plain = band_scaling(write_raster("a.tif", rgb), (1, 2, 3)).key()
    assert band_scaling(write_raster("b.tif", rgb, nodata=0), (1, 2, 3)).key() == plain  # 0 already scales to 0
    assert band_scaling(write_raster("c.tif", rgb, nodata=255), (1, 2, 3)).key() != plain  # was white, now 0


def test_descriptor_of_a_nan_patch_is_finite():
    unit = np.random.default_rng(0).uniform(0, 1, (2, 3, 16, 16)).astype(np.float32)
    unit[0, :, :4] = np.nan
    assert np.isfinite(DescriptorEmbedder().embed(unit)).all()


class NanEmbedder:
    key = "nan-test"

    def embed(self, unit):
        return np.full((len(unit), 4), np.nan, np.float32)


def test_a_nan_embedding_is_refused_not_scored(scene):
    image, mask, _ = scene
    dataset = open_dataset([(image, mask)])
    config = BalanceConfig(**EMBEDDINGS, exclude_border_nodata=False)
    table = composition_step(grid_step(dataset, config), dataset, config, NullProgress())
    with pytest.raises(EmbedderError, match=r"16 included patch\(es\) have an embedding that is not a number \(patches 0, 1"):
        embed_dataset(table, dataset, config, NullProgress(), NanEmbedder())


def test_a_layer_written_before_the_image_nodata_flag_still_reads():
    columns = {"patch_id": [0, 1], "c_0": [1.0, 0.5], "c_1": [0.0, 0.5], "excl_black_border": [0, 1], "excluded": [0, 1]}
    table = table_from_records(columns)
    assert "excl_image_nodata" not in table and table["excluded"].tolist() == [False, True]
    assert "excl_image_nodata" not in [c.name for c in output_columns(table)]
