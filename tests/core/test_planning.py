"""The planner: aggregated grids equal direct passes; its figures equal the build's; the recommendation."""
import numpy as np
import pytest

from balance_core.class_balance import class_balance
from balance_core.config import BalanceConfig
from balance_core.dataset import open_dataset
from balance_core.errors import InvalidParameterError
from balance_core.exclusion import apply_exclusions
from balance_core.pipeline import build_balanced_dataset
from balance_core.planning import PlanRow, aggregate, measured_grid, parse_numbers, plan_balance, recommend
from balance_core.progress import NullProgress


@pytest.fixture
def scene(write_raster):
    """100 × 90 px: a nodata corner, a black image collar on the left, a rare class 3, a NaN hole."""
    rng = np.random.default_rng(3)
    mask = rng.choice([0, 1, 2], size=(90, 100), p=[0.8, 0.15, 0.05]).astype(np.uint8)
    mask[60:64, 70:73] = 3
    mask[:12, 30:70] = 255  # an unlabelled strip along the top
    image = rng.uniform(10, 200, size=(3, 90, 100)).astype(np.float32)
    image[:, :, :5] = 0  # black collar
    image[0, 40, 33] = np.nan  # a hole in one band
    return write_raster("image.tif", image), write_raster("mask.tif", mask, nodata=255)


COLUMNS = ("row_off", "col_off", "nodata_ratio", "border_nodata", "border_black", "image_nodata",
           "border_nodata_edges", "border_black_edges")


@pytest.mark.parametrize("size", [16, 24, 40])
def test_aggregated_grids_equal_a_direct_pass(scene, size):
    dataset = open_dataset([scene])
    config = BalanceConfig()
    small = measured_grid(dataset, config, 8, NullProgress())
    direct = measured_grid(dataset, config, size, NullProgress())
    summed = aggregate(small, dataset, size)
    assert len(summed) == len(direct) == (90 // size) * (100 // size)
    for name in COLUMNS:
        np.testing.assert_array_equal(summed[name], direct[name], err_msg=name)
    np.testing.assert_array_equal(summed.class_values, direct.class_values)
    np.testing.assert_array_equal(summed.class_counts, direct.class_counts)
    np.testing.assert_allclose(summed["class_entropy"], direct["class_entropy"], rtol=1e-12)
    assert summed["border_nodata"].any() and summed["border_black"].any() and summed["image_nodata"].any()


def test_the_planner_gives_the_builds_figures(scene):
    config = BalanceConfig(patch_size=16)
    rows = plan_balance([scene], config, [8, 16, 24], [2, 5])
    row = next(r for r in rows if r.patch_size == 16 and r.cap == 5)
    table, _ = build_balanced_dataset([scene], BalanceConfig(patch_size=16, max_oversampling=5))
    built = class_balance(table.class_values, table.class_counts, table["sampler_weight"], table["excluded"])
    np.testing.assert_allclose(row.drawn_share, built.weighted_share, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(row.frame_share, built.raw_share, rtol=1e-9)
    assert row.imbalance == pytest.approx(built.weighted_imbalance, rel=1e-9)
    assert row.effective_sample_size == pytest.approx(built.effective_sample_size, rel=1e-9)
    assert row.patches == len(table) and row.drawable == int((~table["excluded"]).sum())
    assert [(r.patch_size, r.cap) for r in rows] == [(8, 2), (8, 5), (16, 2), (16, 5), (24, 2), (24, 5)]


def test_whole_frame_shares_by_hand(write_raster):
    mask = np.zeros((32, 32), np.uint8)
    mask[:16, :16] = 1  # a quarter of the frame
    mask[30:, 30:] = 2  # 4 pixels
    image = np.full((3, 32, 32), 100, np.uint8)
    pair = (write_raster("i.tif", image), write_raster("m.tif", mask))
    rows = plan_balance([pair], BalanceConfig(exclude_border_nodata=False), [8, 16], [1, 3])
    for row in rows:
        np.testing.assert_allclose(row.frame_share, [(1024 - 256 - 4) / 1024, 256 / 1024, 4 / 1024])
        assert row.frame_imbalance == pytest.approx(764 / 4)
    cap1 = next(r for r in rows if r.cap == 1 and r.patch_size == 8)
    np.testing.assert_allclose(cap1.drawn_share, cap1.frame_share)  # a cap of 1: every patch equally often
    # at 8 px: class 0 is in 12 of 16 patches (4 are all class 1), class 2 in one, where it is 4 / 64
    cap3 = next(r for r in rows if r.cap == 3 and r.patch_size == 8)
    assert cap3.drawn_share[2] > cap1.drawn_share[2] and cap3.patches_with_class.tolist() == [12, 4, 1]


def row(size, cap, imbalance, ess):
    return PlanRow(size, cap, 100, 100, np.array([0, 1]), np.array([0.9, 0.1]), np.array([0.5, 0.5]),
                   np.array([0.5, 0.5]), np.array([100, 10]), 9.0, imbalance, imbalance, 9.0, ess, cap,
                   np.array([1.0, 1.0]), imbalance <= 1, "")


def test_recommendation_reachable_and_unreachable():
    rows = [row(64, 2, 8.0, 90), row(64, 5, 4.0, 40), row(128, 5, 4.9, 60), row(128, 8, 3.0, 30)]
    chosen = recommend(rows, 5.0)
    assert chosen.meets_target and (chosen.row.patch_size, chosen.row.cap) == (128, 5)  # the largest ESS at ≤ 5 : 1
    closest = recommend(rows, 2.0)
    assert not closest.meets_target and (closest.row.patch_size, closest.row.cap) == (128, 8)
    assert "No setting reaches 2.0 : 1" in closest.text


def test_parse_numbers():
    assert parse_numbers("512, 64,128;64", "Patch sizes", True) == [64, 128, 512]
    assert parse_numbers("1,2.5", "Caps", False) == [1.0, 2.5]
    with pytest.raises(InvalidParameterError, match="Patch sizes"):
        parse_numbers("64,big", "Patch sizes", True)
    with pytest.raises(InvalidParameterError, match="at least 1"):
        parse_numbers("0,2", "Caps", False)


def test_exclusions_follow_the_size(scene):
    """The same rules as the build at every size (an 8 px patch avoids the nodata corner a 40 px one touches)."""
    dataset = open_dataset([scene])
    small = measured_grid(dataset, BalanceConfig(), 8, NullProgress())
    big = apply_exclusions(aggregate(small, dataset, 40), BalanceConfig(patch_size=40))
    assert big["excl_border_nodata"].sum() >= 1 and big["excl_black_border"].sum() >= 1
