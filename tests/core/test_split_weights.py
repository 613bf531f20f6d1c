"""Weights on a split table: only the training split is weighted; the split CSVs and the report."""
import csv

import numpy as np
import pytest

from balance_core.config import BalanceConfig
from balance_core.errors import InvalidParameterError
from balance_core.pipeline import weights_step
from balance_core.progress import NullProgress
from balance_core.split_report import render_split_report
from balance_core.split_search import parse_split_spec
from balance_core.splits import summarise_split, training_table, write_split_csvs
from balance_core.table import PatchTable
from balance_core.writers import write_csv


def split_table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    counts = np.zeros((n, 3))
    counts[:, 0] = 1000
    rare = rng.choice(n, 12, replace=False)
    counts[rare, 1] = rng.integers(10, 200, 12)
    counts[rare[:6], 2] = 30
    counts[:, 0] -= counts[:, 1] + counts[:, 2]
    split = np.array(["train"] * (n // 2) + ["val"] * (n // 4) + ["test"] * (n - n // 2 - n // 4), dtype=object)
    rng.shuffle(split)
    excluded = np.zeros(n, bool)
    excluded[[0, 1]] = True
    table = PatchTable({"patch_id": np.arange(n), "row_off": np.zeros(n, int), "col_off": np.arange(n) * 10,
                        "patch_size": np.full(n, 10), "image_path": np.full(n, "a.tif", dtype=object),
                        "mask_path": np.full(n, "m.tif", dtype=object), "excluded": excluded, "split": split})
    return table.with_classes(np.array([0, 1, 2]), counts)


@pytest.mark.parametrize("method", ["class_balance", "repeat_factor", "composition_only"])
def test_weights_zero_outside_train_and_equal_to_weighting_train_alone(method):
    table = split_table()
    config = BalanceConfig(method=method, k=2)
    weighted = weights_step(table, config, NullProgress())
    train = table["split"] == "train"
    w = weighted["sampler_weight"]
    assert (w[~train] == 0).all() and (w[train & ~table["excluded"]] > 0).all()
    if config.oversampling_cap:  # capped weights have mean 1 over the training rows (expected draws per epoch)
        assert w[train].mean() == pytest.approx(1.0)
    alone = weights_step(table.take(np.flatnonzero(train)), config, NullProgress(), train_split=None)
    np.testing.assert_allclose(w[train], alone["sampler_weight"])
    if "freq_cluster_id" in weighted:
        assert (weighted["freq_cluster_id"][~train] == -1).all()
    assert weighted["split"].tolist() == table["split"].tolist() and len(weighted) == len(table)
    np.testing.assert_array_equal(weighted["excluded"], table["excluded"])  # val/test are not marked excluded


def test_training_balance_ignores_validation_and_test():
    """A class only in validation does not move the training weights: they come from the training rows."""
    table = split_table()
    counts = table.class_counts.copy()
    val = np.flatnonzero(table["split"] == "val")
    counts[val, 0] -= 50
    counts[val, 2] += 50  # much more of class 2 in validation
    moved = table.with_classes(table.class_values, counts)
    a = weights_step(table, BalanceConfig(), NullProgress())["sampler_weight"]
    b = weights_step(moved, BalanceConfig(), NullProgress())["sampler_weight"]
    np.testing.assert_allclose(a, b)


def test_no_training_split_is_refused_naming_what_is_there():
    table = split_table()
    with pytest.raises(InvalidParameterError, match="'fit'.*TRAIN_SPLIT"):
        weights_step(table, BalanceConfig(), NullProgress(), train_split="fit")
    with pytest.raises(InvalidParameterError, match="'test', 'train', 'val'"):
        weights_step(table, BalanceConfig(), NullProgress(), train_split="fit")


def test_split_csvs_have_the_sampler_columns(tmp_path):
    table = weights_step(split_table(), BalanceConfig(), NullProgress())
    spec = parse_split_spec("train,val,test", "0.5,0.25,0.25")
    paths = write_split_csvs(table, str(tmp_path), spec.names)
    write_csv(table, str(tmp_path / "all.csv"))
    with open(tmp_path / "all.csv", newline="") as fh:
        header = next(csv.reader(fh))
    for name in spec.names:
        with open(paths[name], newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert list(rows[0].keys()) == header  # the sampler CSV's columns, so the trainer reads every split
        assert {r["split"] for r in rows} == {name}
        assert all(r["excluded"] == "0" for r in rows)  # only drawable patches: a loader iterates every row
        weights = [float(r["sampler_weight"]) for r in rows]
        assert (min(weights) > 0) if name == "train" else (max(weights) == 0)
    drawable_train = int(((table["split"] == "train") & ~table["excluded"]).sum())
    with open(paths["train"], newline="") as fh:
        assert sum(1 for _ in fh) - 1 == drawable_train


def test_report_warns_about_few_instances_and_names_the_splits():
    table = split_table()
    spec = parse_split_spec("train,val,test", "0.5,0.25,0.25")
    instances = np.array([[80, 60, 3], [20, 12, 0], [25, 51, 1]])
    summary = summarise_split(table, spec, 50, instances)
    warnings = summary.warnings({1: "road"})
    assert "Class 1 (road) has fewer than 50 instances in split val 12: its scores there rest on few objects." in warnings
    assert not any("train 60" in w or "test 51" in w for w in warnings)  # enough there
    assert not any(w.startswith("Class 0 ") for w in warnings)  # the background (over half the pixels) is no object
    text = render_split_report(summary, {}, {"Seed": "1"}, {"objective": 0.01, "random": 0.2}, names={1: "road"})
    assert "fewer than 50" in text and "<table id=\"splits\">" in text and "20× lower" in text
    assert text.count("class='warn'") >= 3  # the three cells of (val, road)


def test_training_table_is_the_report_view():
    table = weights_step(split_table(), BalanceConfig(), NullProgress())
    train = training_table(table)
    assert set(train["split"].tolist()) == {"train"} and train.calibration is not None


def test_an_empty_split_field_is_no_split():
    table = split_table()
    table = table.with_columns(split=np.full(len(table), "", dtype=object))
    weighted = weights_step(table, BalanceConfig(), NullProgress())
    assert (weighted["sampler_weight"][~table["excluded"]] > 0).all()  # every patch weighted, none refused
