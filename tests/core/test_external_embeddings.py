"""Embeddings computed elsewhere (the reference's Parquet layout, our cache, a vector column) give the same
uniqueness as computing them; they are matched by image path + window, never by row position; mixed patch sizes."""
import numpy as np
import pytest

from balance_core import BalanceConfig, build_balanced_dataset
from balance_core.dataset import open_dataset
from balance_core.errors import InvalidParameterError
from balance_core.external_embeddings import attach_embeddings, from_columns, parse_vector, read_parquet
from balance_core.pipeline import composition_step, uniqueness_step
from balance_core.records import records_table

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

pytestmark = pytest.mark.usefixtures("raster_backend")


def _scene(write_raster):
    rng = np.random.default_rng(3)
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[0:16, 0:16] = 1
    mask[40:44, 40:44] = 2
    image = rng.integers(20, 230, size=(3, 64, 64), dtype=np.uint8)
    return write_raster("image.tif", image), write_raster("mask.tif", mask), mask


def _computed(image, mask, tmp_path):
    cache = str(tmp_path / "ours.parquet")
    config = BalanceConfig(patch_size=16, mode="both", embedder="descriptor", embeddings_cache=cache,
                           exclude_black_border=False, k_neighbors=3)
    table, _ = build_balanced_dataset([(image, mask)], config)
    return table, cache, config


def _reference_parquet(table, path, order, image_path=None):
    """The layout of the reference's embedding_extractor.save_embeddings_to_parquet."""
    rows = [i for i in order if not table["excluded"][i]]
    image = image_path or table["image_path"][0]
    pq.write_table(pa.table({
        "tile_id": [f"{image}_{table['row_off'][i]}_{table['col_off'][i]}" for i in rows],
        "image_path": [image] * len(rows),
        "row_off": [int(table["row_off"][i]) for i in rows],
        "col_off": [int(table["col_off"][i]) for i in rows],
        "patch_size": [int(table["patch_size"][i]) for i in rows],
        "embedding": [table["embedding"][i].tolist() for i in rows],
        "dino_model": ["descriptor"] * len(rows),
        "mask_path": [table["mask_path"][i] for i in rows],
    }), path)


def test_reference_parquet_gives_the_same_uniqueness_matched_by_window_not_row(write_raster, tmp_path):
    image, mask, _ = _scene(write_raster)
    computed, _, config = _computed(image, mask, tmp_path)
    path = str(tmp_path / "reference.parquet")
    order = np.random.default_rng(0).permutation(len(computed))  # rows shuffled: position means nothing
    _reference_parquet(computed, path, order)
    external = BalanceConfig(**{**config.__dict__, "embeddings_cache": None, "external_embeddings": path})
    table, _ = build_balanced_dataset([(image, mask)], external)
    np.testing.assert_array_equal(table["uniqueness_score"], computed["uniqueness_score"])
    np.testing.assert_array_equal(table["sampler_weight"], computed["sampler_weight"])


def test_our_cache_and_tile_id_only_layouts_match_too(write_raster, tmp_path):
    image, mask, _ = _scene(write_raster)
    computed, cache, config = _computed(image, mask, tmp_path)
    for source in (cache, str(tmp_path / "ids.parquet")):
        if source.endswith("ids.parquet"):
            rows = np.flatnonzero(~computed["excluded"])[::-1]
            pq.write_table(pa.table({
                "tile_id": [f"{image}_{computed['row_off'][i]}_{computed['col_off'][i]}" for i in rows],
                "embedding": [computed["embedding"][i].tolist() for i in rows]}), source)
        external = read_parquet(source)
        dataset = open_dataset([(image, mask)])
        base = composition_step(computed.take(np.arange(len(computed))), dataset, config, _null())
        table = uniqueness_step(base, None, config, _null(), external=external)
        np.testing.assert_allclose(table["uniqueness_score"], computed["uniqueness_score"], rtol=0, atol=1e-7)


def _null():
    from balance_core.progress import NullProgress

    return NullProgress()


def test_missing_and_mismatched_embeddings_are_refused(write_raster, tmp_path):
    image, mask, _ = _scene(write_raster)
    computed, _, _ = _computed(image, mask, tmp_path)
    included = np.flatnonzero(~computed["excluded"])
    path = str(tmp_path / "partial.parquet")
    _reference_parquet(computed, path, included[:-2])  # two included patches lack a vector
    with pytest.raises(InvalidParameterError, match="2 of .* included patches have no embedding"):
        attach_embeddings(computed, read_parquet(path))
    with pytest.raises(InvalidParameterError, match="different dimensions"):
        from_columns([image, image], [0, 0], [0, 16], [16, 16], [[0.1, 0.2], [0.1, 0.2, 0.3]], "test")
    with pytest.raises(InvalidParameterError, match="expected 5-d"):
        attach_embeddings(computed, from_columns(
            [image] * len(computed), computed["row_off"], computed["col_off"], computed["patch_size"],
            [[1.0, 2.0]] * len(computed), "test"), expected_dim=5)


def test_vector_cells_in_the_forms_tables_hold_them():
    np.testing.assert_array_equal(parse_vector("[0.5, 1, -2]"), [0.5, 1, -2])  # JSON / pgvector text
    np.testing.assert_array_equal(parse_vector("{0.5,1,-2}"), [0.5, 1, -2])  # PostgreSQL array literal
    np.testing.assert_array_equal(parse_vector([0.5, 1.0]), [0.5, 1.0])
    assert parse_vector("") is None and parse_vector(None) is None


def test_mixed_patch_sizes_measure_each_window_at_its_own_size(write_raster):
    image, mask_path, mask = _scene(write_raster)
    columns = {"image_path": [image] * 4, "mask_path": [mask_path] * 4, "row_off": [0, 32, 0, 8],
               "col_off": [0, 32, 16, 40], "patch_size": [16, 32, 32, 8]}
    table = records_table(columns)
    config = BalanceConfig(patch_size=16, exclude_black_border=False, exclude_border_nodata=False, workers=2)
    dataset = open_dataset([(image, mask_path)])
    measured = composition_step(table, dataset, config, _null())
    fractions = measured.fractions()
    for i, (r, c, s) in enumerate(zip(columns["row_off"], columns["col_off"], columns["patch_size"])):
        window = mask[r:r + s, c:c + s]
        expected = [np.mean(window == v) for v in measured.class_values]
        np.testing.assert_allclose(fractions[i], expected, rtol=0, atol=1e-12)
    from balance_core.dataset import dataset_footprints

    rings = dataset_footprints(measured, dataset)
    np.testing.assert_allclose(rings[1, 2] - rings[1, 0], [32.0, -32.0])  # a 32 px patch's footprint: 32 px wide
    np.testing.assert_allclose(rings[3, 2] - rings[3, 0], [8.0, -8.0])


def test_workers_give_the_same_composition(write_raster):
    image, mask_path, _ = _scene(write_raster)
    dataset = open_dataset([(image, mask_path)])
    from balance_core.pipeline import grid_step

    config = BalanceConfig(patch_size=8, stride=4, exclude_black_border=False)
    table = grid_step(dataset, config)
    one = composition_step(table, dataset, config, _null())
    three = composition_step(table, dataset, BalanceConfig(**{**config.__dict__, "workers": 3}), _null())
    np.testing.assert_array_equal(one.class_values, three.class_values)
    np.testing.assert_array_equal(one.class_counts, three.class_counts)
    for name in ("nodata_ratio", "class_entropy", "excluded", "excl_border_nodata"):
        np.testing.assert_array_equal(one[name], three[name])
