"""Patch reading, scaling, the descriptor, the Parquet cache and the embedding stage."""
import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from balance_core import embedding_cache
from balance_core.config import BalanceConfig
from balance_core.descriptor import DescriptorEmbedder
from balance_core.embeddings import compute_embeddings
from balance_core.errors import CacheError, CancelledError, InvalidParameterError
from balance_core.grid import make_grid
from balance_core.image_patches import band_scaling, choose_bands, iter_patch_batches
from balance_core.pipeline import build_balanced_dataset
from balance_core.progress import NullProgress
from balance_core.rasters import open_pair

pytestmark = pytest.mark.usefixtures("raster_backend")  # every test over both raster_io adapters


class Counting:
    """The descriptor, counting the patches it is asked to embed."""

    def __init__(self, key="descriptor-v1"):
        self.key, self.seen, self.inner = key, 0, DescriptorEmbedder()

    def embed(self, unit):
        self.seen += len(unit)
        return self.inner.embed(unit)


class CancelAfter(NullProgress):
    def __init__(self, calls):
        super().__init__()
        self.calls = calls

    def cancelled(self):
        self.calls -= 1
        return self.calls < 0


def test_band_choice():
    assert choose_bands((), 4) == (1, 2, 3)
    assert choose_bands((), 1) == (1, 1, 1)
    assert choose_bands((2,), 3) == (2, 2, 2)
    assert choose_bands((3, 2, 1), 3) == (3, 2, 1)
    with pytest.raises(InvalidParameterError, match="Band 4 was asked for, but the image has 3"):
        choose_bands((4, 2, 1), 3)


def test_eight_bit_scales_like_the_hf_processor(data_dir):
    scaling = band_scaling(str(data_dir / "lyon" / "image_rgb.tif"), (1, 2, 3))
    assert scaling.low == (0, 0, 0) and scaling.high == (255, 255, 255)


def test_sixteen_bit_uses_dataset_percentiles_so_brightness_survives(data_dir):
    path = str(data_dir / "atlanta" / "image_pan.tif")
    scaling = band_scaling(path, (1, 1, 1))
    with rasterio.open(path) as ds:
        band = ds.read(1, masked=True).compressed()
    lo, hi = np.percentile(band, [2, 98])
    assert scaling.low[0] == pytest.approx(lo, rel=0.05) and scaling.high[0] == pytest.approx(hi, rel=0.05)
    assert 0 < scaling.low[0] < scaling.high[0] < 65535
    unit = scaling.apply(np.stack([np.full((3, 8, 8), lo), np.full((3, 8, 8), hi)]))
    assert unit[0].max() < 0.05 and unit[1].min() > 0.95  # a dark and a bright patch stay apart


def test_patch_batches_equal_window_reads(data_dir):
    path = str(data_dir / "lyon" / "image_rgb.tif")
    rows, cols = np.array([0, 0, 128, 640, 64]), np.array([0, 700 - 60, 32, 0, 500])
    batches = list(iter_patch_batches(path, rows, cols, 64, (3, 2, 1), 2, NullProgress()))
    assert [len(p) for p, _ in batches] == [2, 2, 1]
    with rasterio.open(path) as ds:
        for positions, patches in batches:
            for i, patch in zip(positions, patches):
                expected = ds.read([3, 2, 1], window=Window(int(cols[i]), int(rows[i]), 64, 64))
                np.testing.assert_array_equal(patch, expected)


def test_descriptor_sees_brightness_texture_and_layout():
    flat_dark = np.full((3, 32, 32), 0.2, np.float32)
    flat_bright = np.full((3, 32, 32), 0.8, np.float32)
    stripes = flat_dark.copy()
    stripes[:, :, ::4] = 0.8
    left_half = flat_dark.copy()
    left_half[:, :, :16] = 0.8
    out = DescriptorEmbedder().embed(np.stack([flat_dark, flat_bright, stripes, left_half, flat_dark]))
    assert out.shape == (5, 72) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], out[4])
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.allclose(out[i], out[j]), (i, j)


def embed_lyon(data_dir, cache, embedder, patch_size=128, progress=None):
    pair = open_pair(str(data_dir / "lyon" / "image_rgb.tif"), str(data_dir / "lyon" / "labels.tif"))
    table = make_grid(pair.width, pair.height, patch_size, patch_size)
    table = table.with_columns(excluded=np.zeros(len(table), bool))
    config = BalanceConfig(patch_size=patch_size, mode="both", embeddings_cache=cache, batch_size=8)
    return compute_embeddings(table, pair, config, progress or NullProgress(), embedder)


def test_cache_hit_partial_hit_and_other_model(data_dir, tmp_path):
    cache = str(tmp_path / "emb.parquet")
    first = Counting()
    full = embed_lyon(data_dir, cache, first)["embedding"]
    assert first.seen == 36 and not np.isnan(full).any()

    again = Counting()
    np.testing.assert_array_equal(embed_lyon(data_dir, cache, again)["embedding"], full)
    assert again.seen == 0  # read, not computed

    # drop some rows: only those are recomputed, and the result is the same
    import pyarrow.parquet as pq
    kept = pq.read_table(cache).slice(0, 20)
    pq.write_table(kept, cache)
    partial = Counting()
    np.testing.assert_allclose(embed_lyon(data_dir, cache, partial)["embedding"], full, rtol=1e-6)
    assert partial.seen == 16
    assert pq.read_table(cache).num_rows == 36

    other = Counting(key="another-model")
    embed_lyon(data_dir, cache, other)
    assert other.seen == 36  # never matched by row position
    assert pq.read_table(cache).num_rows == 72  # the first model's rows are kept

    windows = Counting()
    embed_lyon(data_dir, cache, windows, patch_size=256)
    assert windows.seen == 9  # other windows: recomputed


def test_cache_of_a_rewritten_image_is_stale(data_dir, tmp_path, write_raster):
    with rasterio.open(data_dir / "lyon" / "image_rgb.tif") as ds:
        pixels = ds.read()
    image = write_raster("img.tif", pixels)
    mask = write_raster("mask.tif", np.zeros(pixels.shape[1:], np.uint8))
    cache = str(tmp_path / "emb.parquet")
    config = BalanceConfig(patch_size=256, mode="both", embeddings_cache=cache)
    build_balanced_dataset([(image, mask)], config, embedder=Counting())
    write_raster("img.tif", 255 - pixels)
    rerun = Counting()
    table, _ = build_balanced_dataset([(image, mask)], config, embedder=rerun)
    assert rerun.seen == int((~table["excluded"]).sum()) > 0  # nothing matched the old file


def test_a_foreign_file_at_the_cache_path_is_refused_and_kept(data_dir, tmp_path):
    cache = tmp_path / "notes.parquet"
    cache.write_text("my notes")
    with pytest.raises(CacheError, match="left untouched"):
        embed_lyon(data_dir, str(cache), Counting())
    assert cache.read_text() == "my notes"


def test_cancel_mid_extraction_keeps_the_finished_batches_in_the_cache(data_dir, tmp_path):
    cache = str(tmp_path / "emb.parquet")
    with pytest.raises(CancelledError):
        embed_lyon(data_dir, cache, Counting(), progress=CancelAfter(3))
    key_rows = embedding_cache._read(cache).num_rows
    assert 0 < key_rows < 36
    resumed = Counting()
    embed_lyon(data_dir, cache, resumed)
    assert resumed.seen == 36 - key_rows


def test_pipeline_descriptor_mode_writes_uniqueness(data_dir):
    config = BalanceConfig(patch_size=128, mode="both", embedder="descriptor")
    table, _ = build_balanced_dataset([(str(data_dir / "lyon" / "image_rgb.tif"), str(data_dir / "lyon" / "labels.tif"))], config)
    included = ~table["excluded"]
    assert np.all(table["uniqueness_score"][included] > 0)
    assert np.all(table["sampler_weight"][included] > 0)
    assert "embedding" in table and table["embedding"].shape == (36, 72)
