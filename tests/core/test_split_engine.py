"""The split engine: blocks, buffer, stratified assignment, determinism (no QGIS, no rasters)."""
import numpy as np
import pytest

from balance_core.blocks import grid_blocks, patch_bounds, raster_blocks, region_blocks
from balance_core.errors import InvalidParameterError
from balance_core.grid import footprints, make_grid
from balance_core.raster_io import Transform
from balance_core.split_buffer import buffer_exclusions, give_way_order, rectangle_gaps
from balance_core.split_search import (BlockStats, assign_blocks, parse_split_spec, random_assignment,
                                       score_assignment)
from balance_core.splits import BUFFER_FLAG, SplitConfig, split_codes, split_patches, summarise_split
from balance_core.table import PatchTable

SPEC = parse_split_spec("train,val,test", "0.7,0.15,0.15")
PIXEL = Transform(1.0, 0.0, 1000.0, 0.0, -1.0, 5000.0)  # 1 map unit per pixel, north-up


def grid_table(width, height, size, stride, counts_of=None, image="a.tif"):
    """A patch table over one raster with bounds; `counts_of(row_off, col_off)` → (n, C) class pixel counts."""
    grid = make_grid(width, height, size, stride)
    n = len(grid)
    table = grid.with_columns(image_path=np.full(n, image, dtype=object), mask_path=np.full(n, "m.tif", dtype=object),
                              excluded=np.zeros(n, dtype=bool))
    counts = counts_of(grid["row_off"], grid["col_off"]) if counts_of else np.column_stack(
        [np.full(n, size * size, dtype=np.float64)])
    table = table.with_classes(np.arange(counts.shape[1]), counts)
    bounds = patch_bounds(footprints(PIXEL, grid["row_off"], grid["col_off"], size))
    return table, bounds


def skewed_counts(size, rng_seed=0):
    """Background everywhere, a rare class in a handful of places, a medium class along one edge."""
    rng = np.random.default_rng(rng_seed)

    def counts_of(rows, cols):
        n = len(rows)
        counts = np.zeros((n, 3))
        counts[:, 0] = size * size
        spots = rng.choice(n, 12, replace=False)
        counts[spots, 2] = rng.integers(20, 200, 12)
        edge = cols < 3 * size
        counts[edge, 1] = rng.integers(100, 1000, int(edge.sum()))
        counts[:, 0] -= counts[:, 1] + counts[:, 2]
        return counts

    return counts_of


def overlaps(a, b):
    return (min(a[2], b[2]) - max(a[0], b[0]) > 1e-9) and (min(a[3], b[3]) - max(a[1], b[1]) > 1e-9)


def gap(a, b):
    dx = max(a[0] - b[2], b[0] - a[2], 0.0)
    dy = max(a[1] - b[3], b[1] - a[3], 0.0)
    return float(np.hypot(dx, dy))


def test_no_pixel_in_two_splits_with_overlapping_patches():
    """stride < patch size: any two drawable patches of different splits share no pixel (checked pair by pair)."""
    table, bounds = grid_table(320, 320, 32, 16, skewed_counts(32))
    out = split_patches(table, bounds, SplitConfig(block_size=96, seed=3))
    codes = split_codes(out.table, SPEC.names)
    drawable = ~out.table["excluded"]
    assert (codes >= 0).all() and out.table[BUFFER_FLAG].sum() > 0  # the blocks' borders needed the buffer
    rows = np.flatnonzero(drawable)
    for i in rows:
        for j in rows[rows > i]:
            if codes[i] != codes[j]:
                assert not overlaps(bounds[i], bounds[j]), (i, j)
    # and on the pixels themselves: no pixel of the raster lies in drawable patches of two splits
    owner = np.full((320, 320), -1)
    for i in rows:
        r, c = table["row_off"][i], table["col_off"][i]
        window = owner[r:r + 32, c:c + 32]
        assert ((window == -1) | (window == codes[i])).all()
        window[:] = codes[i]


def test_buffer_distances_by_hand():
    """A row of 10-unit patches, 3 train then 3 val: with a 15-unit buffer the train patches at gaps 0 and 10
    from the first val patch give way, the one at gap 20 stays; val keeps all its patches."""
    bounds = np.array([[10.0 * i, 0.0, 10.0 * i + 10.0, 10.0] for i in range(6)])
    split = np.array([0, 0, 0, 1, 1, 1])
    assert rectangle_gaps(bounds[[0, 1, 2]], bounds[[3, 3, 3]])[0].tolist() == [20.0, 10.0, 0.0]
    excluded = buffer_exclusions(bounds, split, np.ones(6, bool), 15.0, (0.7, 0.3))
    assert excluded.tolist() == [False, True, True, False, False, False]
    # exactly at the buffer is far enough; just below is not
    assert buffer_exclusions(bounds, split, np.ones(6, bool), 10.0, (0.7, 0.3)).tolist() == [False, False, True,
                                                                                             False, False, False]
    assert buffer_exclusions(bounds, split, np.ones(6, bool), 10.001, (0.7, 0.3))[1]
    # no buffer: patches that only touch share no pixel and both stay
    assert not buffer_exclusions(bounds, split, np.ones(6, bool), 0.0, (0.7, 0.3)).any()
    # a diagonal neighbour: gap √(5² + 5²) ≈ 7.07
    diag = np.array([[0.0, 0.0, 10.0, 10.0], [15.0, 15.0, 25.0, 25.0]])
    assert buffer_exclusions(diag, np.array([0, 1]), np.ones(2, bool), 7.0, (0.5, 0.5)).tolist() == [False, False]
    assert buffer_exclusions(diag, np.array([0, 1]), np.ones(2, bool), 7.1, (0.5, 0.5)).sum() == 1


def test_buffer_honoured_on_a_split_grid():
    table, bounds = grid_table(400, 400, 20, 20, skewed_counts(20, 1))
    out = split_patches(table, bounds, SplitConfig(block_size=100, buffer=25.0, seed=5))
    codes = split_codes(out.table, SPEC.names)
    rows = np.flatnonzero(~out.table["excluded"])
    for i in rows:
        for j in rows[rows > i]:
            if codes[i] != codes[j]:
                assert gap(bounds[i], bounds[j]) >= 25.0 - 1e-9, (i, j)
    # every flagged patch had a reason: a kept patch of another split within the buffer
    flagged = np.flatnonzero(out.table[BUFFER_FLAG])
    assert len(flagged)
    for i in flagged[:40]:
        assert any(codes[j] != codes[i] and gap(bounds[i], bounds[j]) < 25.0 for j in rows)


def test_the_larger_split_gives_way():
    assert give_way_order((0.7, 0.15, 0.15)) == [2, 1, 0]  # test keeps all, val gives way to test, train to both
    bounds = np.array([[0.0, 0, 10, 10], [5.0, 0, 15, 10], [10.0, 0, 20, 10]])  # 0 overlaps 1 overlaps 2
    excluded = buffer_exclusions(bounds, np.array([0, 1, 2]), np.ones(3, bool), 0.0, (0.7, 0.15, 0.15))
    assert excluded.tolist() == [False, True, False]  # val gave way to test; train's partner is gone, so it stays


def test_stratification_beats_random_block_assignment():
    """On a skewed scene (a rare class in 12 patches, a medium one along one edge) the seeded search keeps each
    class's pixels closer to 70/15/15 than any of 30 random assignments of the same blocks."""
    table, bounds = grid_table(640, 640, 32, 32, skewed_counts(32, 7))
    out = split_patches(table, bounds, SplitConfig(block_size=96, seed=11))
    ours = out.summary.max_allocation_error
    stats = BlockStats.of(out.block, out.n_blocks, table.class_counts, ~table["excluded"])
    random_errors, random_scores = [], []
    for seed in range(30):
        assignment = random_assignment(stats, SPEC.fractions, np.random.default_rng(seed))
        split = np.array(SPEC.names, dtype=object)[assignment[out.block]]
        summary = summarise_split(table.with_columns(split=split), SPEC)
        random_errors.append(summary.max_allocation_error)
        random_scores.append(score_assignment(stats, SPEC.fractions, assignment)[0])
    assert ours < min(random_errors)
    assert out.search.objective < min(random_scores)
    assert out.summary.missing() == []  # the rare class is in every split
    assert out.summary.max_fraction_error < 0.03


def test_every_class_in_every_split_where_the_data_allow():
    """A class held by exactly three blocks ends up in all three splits, although that costs fraction accuracy."""
    def counts_of(rows, cols):
        counts = np.zeros((len(rows), 2))
        counts[:, 0] = 100
        for r, c in ((0, 0), (0, 90), (90, 0)):  # three distant patches → three different blocks
            counts[(rows == r) & (cols == c), 1] = 5
        return counts

    table, bounds = grid_table(100, 100, 10, 10, counts_of)
    out = split_patches(table, bounds, SplitConfig(block_size=30, seed=0))
    assert out.summary.pixels[:, 1].tolist() == [5.0, 5.0, 5.0]
    assert out.search.missing == 0


def test_deterministic_for_a_seed():
    table, bounds = grid_table(480, 480, 32, 16, skewed_counts(32, 2))
    a = split_patches(table, bounds, SplitConfig(block_size=64, buffer=10, seed=42))
    b = split_patches(table, bounds, SplitConfig(block_size=64, buffer=10, seed=42))
    assert a.table["split"].tolist() == b.table["split"].tolist()
    np.testing.assert_array_equal(a.table[BUFFER_FLAG], b.table[BUFFER_FLAG])
    c = split_patches(table, bounds, SplitConfig(block_size=64, buffer=10, seed=43))
    assert c.table["split"].tolist() != a.table["split"].tolist()


def test_resplitting_undoes_the_previous_buffer_but_keeps_other_exclusions():
    table, bounds = grid_table(320, 320, 32, 16, skewed_counts(32, 4))
    rule = np.zeros(len(table), bool)
    rule[:5] = True
    table = table.with_columns(excl_border_nodata=rule, excluded=rule.copy())
    first = split_patches(table, bounds, SplitConfig(block_size=96, seed=1)).table
    again = split_patches(first, bounds, SplitConfig(block_size=96, seed=1)).table
    assert again["split"].tolist() == first["split"].tolist()
    np.testing.assert_array_equal(again["excluded"], first["excluded"])
    np.testing.assert_array_equal(again[BUFFER_FLAG], first[BUFFER_FLAG])
    assert again["excluded"][:5].all()  # the rule's exclusions stay
    # a stale buffer flag (from a split with other blocks) is undone, not inherited
    kept = np.flatnonzero(~first["excluded"])[0]
    stale_flag, stale_excluded = first[BUFFER_FLAG].copy(), first["excluded"].copy()
    stale_flag[kept] = stale_excluded[kept] = True
    third = split_patches(first.with_columns(**{BUFFER_FLAG: stale_flag, "excluded": stale_excluded}), bounds,
                          SplitConfig(block_size=96, seed=1)).table
    assert not third["excluded"][kept] and not third[BUFFER_FLAG][kept]


def test_blocks():
    bounds = np.array([[0.0, 0, 10, 10], [10, 0, 20, 10], [30, 0, 40, 10], [0, -90, 10, -80]])
    assert grid_blocks(bounds, 20.0).tolist() == [0, 0, 1, 2]  # cells from the north-west corner
    assert grid_blocks(bounds, 0.0).tolist() == [0, 0, 0, 1]  # 0 = 8 patches (80 units) wide
    assert raster_blocks(np.array(["b.tif", "a.tif", "b.tif", "c.tif"], dtype=object)).tolist() == [1, 0, 1, 2]
    # patches outside every region fall back to grid cells, after the regions
    assert region_blocks(np.array([1, -1, 1, -1]), bounds, 20.0).tolist() == [0, 1, 0, 2]


def test_whole_rasters_as_blocks():
    parts = [grid_table(64, 64, 16, 16, skewed_counts(16, k), image=f"tile_{k}.tif") for k in range(8)]
    table = PatchTable({name: np.concatenate([p[0][name] for p in parts]) for name in parts[0][0].columns})
    table = table.with_classes(parts[0][0].class_values, np.concatenate([p[0].class_counts for p in parts]))
    bounds = np.concatenate([b + [100.0 * k, 0, 100.0 * k, 0] for k, (_, b) in enumerate(parts)])
    out = split_patches(table, bounds, SplitConfig(blocks="raster", seed=1))
    for k in range(8):
        assert len(set(out.table["split"][table["image_path"] == f"tile_{k}.tif"].tolist())) == 1
    assert set(out.table["split"].tolist()) == {"train", "val", "test"}


def test_fractions_close_on_many_blocks():
    table, bounds = grid_table(1024, 1024, 16, 16, skewed_counts(16, 9))
    out = split_patches(table, bounds, SplitConfig(seed=2))  # 8 patches wide: 64 blocks
    assert out.n_blocks == 64
    assert out.summary.max_fraction_error < 0.02


def test_split_spec_and_settings_are_checked():
    assert parse_split_spec("fit, holdout", "80,20").fractions == (0.8, 0.2)
    for names, fractions, words in (("train,val", "0.7,0.15,0.15", "one fraction per split"),
                                    ("train,train", "0.5,0.5", "differ"), ("train,", "0.5,0.5", "non-empty"),
                                    ("train,val", "0.7,-0.3", "positive"), ("train,val", "a,b", "numbers"),
                                    ("train", "1", "at least two"), ("train,../val", "0.5,0.5", "file names")):
        with pytest.raises(InvalidParameterError, match=words):
            parse_split_spec(names, fractions)
    table, bounds = grid_table(64, 64, 16, 16)
    with pytest.raises(InvalidParameterError, match="fewer than the 3 splits"):
        split_patches(table, bounds, SplitConfig(block_size=1000))
    with pytest.raises(InvalidParameterError, match="buffer"):
        split_patches(table, bounds, SplitConfig(buffer=-1))


def test_stale_weights_are_dropped():
    table, bounds = grid_table(128, 128, 16, 16, skewed_counts(16))
    table = table.with_columns(sampler_weight=np.ones(len(table)))
    out = split_patches(table, bounds, SplitConfig(block_size=32))
    assert "sampler_weight" not in out.table and "sampler_weight" in out.notes[0]
