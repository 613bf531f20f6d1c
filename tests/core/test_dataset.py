"""Many image/mask pairs as one dataset, and the step chain through plain records."""
import numpy as np
import pytest

from balance_core.config import BalanceConfig
from balance_core.dataset import dataset_footprints, open_dataset
from balance_core.errors import GridMismatchError, InvalidParameterError
from balance_core.patch_records import table_from_records
from balance_core.pipeline import build_balanced_dataset, composition_step, grid_step, uniqueness_step, weights_step
from balance_core.progress import NullProgress
from balance_core.schema import output_columns

pytestmark = pytest.mark.usefixtures("raster_backend")  # every test over both raster_io adapters


@pytest.fixture
def two_tiles(write_raster):
    """Two tiles of different size; the rare class 2 only in the second, class 3 only in the first."""
    m1 = np.zeros((64, 96), np.uint8)
    m1[:16, :16] = 3
    m2 = np.ones((48, 48), np.uint8)
    m2[20:26, 20:26] = 2
    img1 = np.random.default_rng(1).integers(1, 255, (3, 64, 96)).astype(np.uint8)
    img2 = np.random.default_rng(2).integers(1, 255, (3, 48, 48)).astype(np.uint8)
    return [
        (write_raster("t1_rgb.tif", img1), write_raster("t1_mask.tif", m1)),
        (write_raster("t2_rgb.tif", img2, origin=(600000.0, 4500000.0)),
         write_raster("t2_mask.tif", m2, origin=(600000.0, 4500000.0))),
    ]


def test_ids_are_unique_and_classes_are_the_union(two_tiles):
    table, dataset = build_balanced_dataset(two_tiles, BalanceConfig(patch_size=16, k=2))
    assert len(table) == 4 * 6 + 3 * 3
    assert table["patch_id"].tolist() == list(range(33))
    assert table.class_values.tolist() == [0, 1, 2, 3]
    second = table["image_path"] == two_tiles[1][0]
    assert table.class_counts[second][:, 3].sum() == 0 and table.class_counts[~second][:, 2].sum() == 0
    rings = dataset_footprints(table, dataset)
    assert rings[second][:, :, 0].min() >= 600000.0 > rings[~second][:, :, 0].max()


def test_ranks_are_joint_over_the_dataset(two_tiles):
    table, _ = build_balanced_dataset(two_tiles, BalanceConfig(patch_size=16, k=3))
    single, _ = build_balanced_dataset(two_tiles[:1], BalanceConfig(patch_size=16, k=3))
    first = table["image_path"] == two_tiles[0][0]
    assert not np.allclose(table["sampler_weight"][first], single["sampler_weight"])


def test_rasters_in_different_crs_are_refused(write_raster, two_tiles):
    other = (write_raster("t3.tif", np.ones((3, 32, 32), np.uint8), crs="EPSG:3857"),
             write_raster("t3_mask.tif", np.ones((32, 32), np.uint8), crs="EPSG:3857"))
    with pytest.raises(GridMismatchError, match="share one CRS"):
        open_dataset(two_tiles + [other])


def _records(table):
    return {c.name: c.as_list() for c in output_columns(table)}


def test_chain_through_records_equals_the_one_shot(two_tiles):
    config = BalanceConfig(patch_size=16, k=0, mode="both", embedder="descriptor", max_oversampling=3.0)
    one_shot, dataset = build_balanced_dataset(two_tiles, config)
    grid = table_from_records(_records(grid_step(dataset, config)), need_windows=True)
    composed = table_from_records(_records(composition_step(grid, dataset, config, NullProgress())), need_windows=True)
    unique = table_from_records(_records(uniqueness_step(composed, dataset, config, NullProgress())), need_windows=True)
    weighted = weights_step(unique, config, NullProgress())
    np.testing.assert_array_equal(weighted["freq_cluster_id"], one_shot["freq_cluster_id"])
    np.testing.assert_allclose(weighted["sampler_weight"], one_shot["sampler_weight"], rtol=1e-12)
    assert one_shot["sampler_weight"].max() <= 3.0 * one_shot["sampler_weight"].mean() + 1e-9


def test_edited_layer_rows_and_manual_exclusion(two_tiles):
    config = BalanceConfig(patch_size=16)
    _, dataset = build_balanced_dataset(two_tiles, config)
    records = _records(composition_step(grid_step(dataset, config), dataset, config, NullProgress()))
    order = np.random.default_rng(0).permutation(len(records["patch_id"]))[:20]  # shuffled and fewer rows
    edited = {k: [v[i] for i in order] for k, v in records.items()}
    edited["excluded"][0] = 1
    table = table_from_records(edited, need_windows=True)
    again = composition_step(table, dataset, config, NullProgress())
    columns = np.searchsorted(table.class_values, again.class_values)
    np.testing.assert_allclose(again.fractions(), table.fractions()[:, columns])
    weighted = weights_step(table, config, NullProgress())
    assert weighted["sampler_weight"][0] == 0 and (weighted["sampler_weight"][1:] > 0).all()


def test_window_outside_its_raster_is_refused(two_tiles):
    config = BalanceConfig(patch_size=16)
    _, dataset = build_balanced_dataset(two_tiles, config)
    records = _records(grid_step(dataset, config))
    records["col_off"][0] = 90
    with pytest.raises(InvalidParameterError, match="reaches outside"):
        composition_step(table_from_records(records, need_windows=True), dataset, config, NullProgress())


def test_records_need_their_fields():
    with pytest.raises(InvalidParameterError, match="lacks the field"):
        table_from_records({"patch_id": [1]}, need_windows=True)
    with pytest.raises(InvalidParameterError, match="no class composition"):
        table_from_records({"patch_id": [1]}, need_composition=True)


def test_dataset_explorer_style_json_columns():
    dists = ['{"0": 0.9, "5": 0.1}', '{"0": 1.0}', '{"0": 1.0}', None]
    table = table_from_records({"id": [1, 2, 3, 4], "class_dist_json": dists, "nodata_ratio": [0.0, 0.5, 0.0, 1.0]},
                               need_composition=True)
    assert table.class_values.tolist() == [0, 5]
    np.testing.assert_allclose(table.fractions(), [[0.9, 0.1], [1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    assert table["excluded"].tolist() == [False, False, False, True]  # no labelled pixel
    weighted = weights_step(table, BalanceConfig(k=2, method="composition_only"), NullProgress())["sampler_weight"]
    assert weighted[0] > weighted[1] == weighted[2] > 0 == weighted[3]
