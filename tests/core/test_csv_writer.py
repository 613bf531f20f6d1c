"""The column-at-a-time CSV writers write, byte for byte, what the row-by-row `csv.writer` ones wrote.

`reference_write_csv` / `reference_write_rows_csv` are the writers as they were before they went columnar;
each case writes the same table both ways and compares the bytes.
"""
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from balance_core.schema import FLOAT, output_columns
from balance_core.table import PatchTable
from balance_core.writers import COMPATIBLE_FLAGS, class_dist_texts, write_csv, write_rows_csv


def reference_class_dist_json(table):
    if table.class_counts is None:
        return ["{}"] * len(table)
    keys = [str(int(v)) for v in table.class_values]
    return [json.dumps({k: round(float(f), 6) for k, f in zip(keys, row) if f > 0}, separators=(",", ":"))
            for row in table.fractions()]


def reference_write_csv(table, path, carried=None):
    columns = output_columns(table)
    flags = {}
    for name, sources in COMPATIBLE_FLAGS.items():
        present = [table[s] for s in sources if s in table]
        if present:
            flags[name] = ["True" if f else "False"
                           for f in np.logical_or.reduce([np.asarray(p, dtype=bool) for p in present]).tolist()]
    extra = {"class_dist_json": reference_class_dist_json(table), **flags}
    taken = {c.name for c in columns} | set(extra)
    extra.update({name: ["" if v is None else str(v) for v in values]
                  for name, values in (carried or {}).items() if name not in taken})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([c.name for c in columns] + list(extra))
        formatted = [
            ["" if v is None else repr(v) for v in c.as_list()] if c.kind == FLOAT else [str(v) for v in c.as_list()]
            for c in columns
        ] + list(extra.values())
        writer.writerows(zip(*formatted))


def reference_write_rows_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(["" if v is None else repr(v) if isinstance(v, float) else v for v in row] for row in rows)


AWKWARD_TEXT = ["plain", "with,comma", 'with "quotes"', "line\nbreak", "cr\rreturn", "", " lead and trail ", "é ü 漢字",
                '"', ",", "a\r\nb", "None"]
AWKWARD_FLOATS = [0.0, -0.0, 1.0, 0.1, 1 / 3, 1e-5, 1e-7, 123456789.123, 1e16, 1.5e300, 5e-324, float("nan"),
                  float("inf"), -float("inf"), 2.0 ** 53, 0.30000000000000004]


def awkward_table(n=60, seed=0) -> PatchTable:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 5, size=(n, 4)).astype(np.float64)
    counts[3] = 0  # nothing labelled
    counts[5] = [0, 0, 0, 7]
    counts[7] = [1e-9, 0, 0, 1]  # a fraction that rounds to 0.0
    floats = np.array([AWKWARD_FLOATS[i % len(AWKWARD_FLOATS)] for i in range(n)])
    columns = {
        "patch_id": np.arange(n, dtype=np.int64) * 1000003 - 7,
        "image_path": np.array([f"/data/{AWKWARD_TEXT[i % len(AWKWARD_TEXT)]}.tif" for i in range(n)], dtype=object),
        "mask_path": np.array([AWKWARD_TEXT[(i + 3) % len(AWKWARD_TEXT)] for i in range(n)], dtype=object),
        "row_off": rng.integers(0, 10**6, n), "col_off": rng.integers(0, 10**6, n), "patch_size": np.full(n, 256),
        "class_entropy": floats, "nodata_ratio": rng.random(n),
        "excl_border_nodata": rng.random(n) < 0.3, "excl_black_border": rng.random(n) < 0.3,
        "excl_image_nodata": rng.random(n) < 0.3, "excl_low_entropy": rng.random(n) < 0.3,
        "excl_nodata_ratio": rng.random(n) < 0.3, "excluded": rng.random(n) < 0.3,
        "split": np.array([["train", "val", "test", "", "x,y"][i % 5] for i in range(n)], dtype=object),
        "freq_cluster_id": rng.integers(-1, 9, n), "freq_cluster_size": rng.integers(1, 90, n),
        "freq_cluster_weight": rng.random(n) / 7, "uniqueness_score": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
        "sampler_weight": rng.gamma(2.0, 0.5, n) * 1e-3,
    }
    return PatchTable(columns).with_classes(np.array([-1, 0, 3, 250]), counts)


def same_bytes(tmp_path: Path, table, carried=None) -> bytes:
    reference_write_csv(table, tmp_path / "reference.csv", carried)
    write_csv(table, str(tmp_path / "columnar.csv"), carried)
    expected = (tmp_path / "reference.csv").read_bytes()
    assert (tmp_path / "columnar.csv").read_bytes() == expected
    return expected


def test_awkward_values_are_written_as_csv_writer_writes_them(tmp_path):
    carried = {"note": [AWKWARD_TEXT[i % len(AWKWARD_TEXT)] if i % 7 else None for i in range(60)],
               "score": [i * 0.1 for i in range(60)], "split": ["ignored"] * 60}
    text = same_bytes(tmp_path, awkward_table(), carried).decode()
    assert '"with,comma' in text and '""quotes""' in text and "\r\n" in text


@pytest.mark.parametrize("what", ["no classes", "one row", "fractions stored"])
def test_tables_of_every_shape(tmp_path, what):
    table = awkward_table(12, seed=3)
    if what == "no classes":
        table = PatchTable(dict(table.columns))
    elif what == "one row":
        table = table.take(np.array([5]))
    else:
        table = table.with_fractions(table.class_values, table.fractions() * 1.0, np.full(12, 4.0))
    same_bytes(tmp_path, table)


def test_class_dist_texts_match_the_json_of_each_row():
    table = awkward_table(300, seed=7)
    assert class_dist_texts(table) == reference_class_dist_json(table)


def test_the_real_test_data(tmp_path, data_dir):
    """The table the engine builds from the Lyon pair, written both ways."""
    from balance_core.config import BalanceConfig
    from balance_core.pipeline import build_balanced_dataset

    pairs = [(str(data_dir / "lyon/image_rgb.tif"), str(data_dir / "lyon/labels.tif"))]
    table, _ = build_balanced_dataset(pairs, BalanceConfig(patch_size=32).validate())
    assert len(table) == 576
    same_bytes(tmp_path, table)


@pytest.mark.parametrize("rows", [
    [[1, 0.1, "a,b", None, True], [2, float("nan"), 'q"q', "", False], [3, 1e-7, "x\ny", "z", None]],
    [],
    [["only"]],
])
def test_plain_rows(tmp_path, rows):
    header = ["id", "value", "text", "maybe", "flag"][:len(rows[0]) if rows else 5]
    reference_write_rows_csv(tmp_path / "reference.csv", header, rows)
    write_rows_csv(str(tmp_path / "columnar.csv"), header, rows)
    assert (tmp_path / "columnar.csv").read_bytes() == (tmp_path / "reference.csv").read_bytes()


def test_one_column_with_empty_cells(tmp_path):
    rows = [[""], ["a"], [None], [math.pi]]
    reference_write_rows_csv(tmp_path / "reference.csv", ["only"], rows)
    write_rows_csv(str(tmp_path / "columnar.csv"), ["only"], rows)
    assert (tmp_path / "columnar.csv").read_bytes() == (tmp_path / "reference.csv").read_bytes()
