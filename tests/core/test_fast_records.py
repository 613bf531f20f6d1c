"""Reading a patch layer back at 155,000 patches: `table_from_records` converts whole columns in C (an object
array, its None mask, one cast) where a layer gives numbers, NULLs and texts; the value-by-value helpers it had
(kept here) stay for anything else. The table is the same bit for bit, and so is every refusal; and
`schema.class_dist_json` is the CSV writer's column-at-a-time text, the same bytes as a json.dumps per row."""
import json

import numpy as np
import pytest

from balance_core import patch_records
from balance_core.errors import InvalidParameterError
from balance_core.patch_records import table_from_records
from balance_core.schema import class_dist_json, output_columns
from balance_core.table import PatchTable


# --- the helpers as they were: one Python step per value --------------------------------------------------------
def old_numbers(values, default=0.0, *, field="", ids=None):
    values = [None if patch_records._blank(v) else v for v in values]
    try:
        return np.array([default if v is None else float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        pass
    bad = []
    for i, v in enumerate(values):
        try:
            float(v if v is not None else default)
        except (TypeError, ValueError):
            bad.append(i)
    example = values[bad[0]]
    raise InvalidParameterError(
        f"The field {field} holds text that is not a number ({example!r}) for "
        f"{patch_records._rows(np.array(bad), ids)} ({len(bad)} in all): correct or delete those values."
    )


def old_flags(values):
    return np.array([bool(v) and str(v).lower() not in ("0", "false", "f", "no") for v in values], dtype=bool)


def old_texts(values):
    return np.array(["" if v is None else str(v) for v in values], dtype=object)


def old_nones(values):
    return np.array([v is None for v in values], dtype=bool)


def reference(monkeypatch, columns, **kwargs):
    """table_from_records with the old helpers: (table, None) or (None, the refusal's message)."""
    with monkeypatch.context() as patched:
        for name, old in (("_numbers", old_numbers), ("_flags", old_flags), ("_texts", old_texts),
                          ("_nones", old_nones)):
            patched.setattr(patch_records, name, old)
        return _outcome(columns, **kwargs)


def _outcome(columns, **kwargs):
    try:
        return table_from_records(columns, **kwargs), None
    except InvalidParameterError as exc:
        return None, str(exc)


def _same_array(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype == object:
        assert a.tolist() == b.tolist() and [type(x) for x in a.tolist()] == [type(x) for x in b.tolist()]
    else:
        assert a.tobytes() == b.tobytes()  # bit for bit: -0.0, NaN


def assert_same(monkeypatch, columns, **kwargs):
    expected, expected_error = reference(monkeypatch, columns, **kwargs)
    got, error = _outcome(columns, **kwargs)
    assert error == expected_error
    if expected is None:
        return error
    assert list(got.columns) == list(expected.columns)
    for name in expected.columns:
        _same_array(got[name], expected[name])
    for attribute in ("class_values", "class_counts", "stored_fractions"):
        a, b = getattr(got, attribute), getattr(expected, attribute)
        assert (a is None) == (b is None)
        if a is not None:
            _same_array(np.asarray(a), np.asarray(b))
    return None


def _layer_columns(n=400, seed=0, classes=4):
    """Columns as a patch layer reads back: Python ints and floats, None for NULL, texts for paths."""
    rng = np.random.default_rng(seed)
    counts = np.floor(rng.dirichlet(np.full(classes, 0.4), size=n) * 256)
    counts[:, 0] += 256 - counts.sum(axis=1)
    counts[rng.random(n) < 0.1] //= 3  # some nodata
    counts[:3] = 0  # patches with no labelled pixel
    ids = rng.permutation(n * 3)[:n]
    table = PatchTable({
        "patch_id": ids, "image_path": np.array([f"/d/img_{i % 7}.tif" for i in range(n)], dtype=object),
        "mask_path": np.array([f"/d/m é_{i % 7}.tif" for i in range(n)], dtype=object),
        "row_off": (np.arange(n) // 20) * 16, "col_off": (np.arange(n) % 20) * 16, "patch_size": np.full(n, 16),
        "class_entropy": rng.random(n), "nodata_ratio": 1 - counts.sum(axis=1) / 256,
        "excl_border_nodata": rng.random(n) < 0.1, "excl_low_entropy": rng.random(n) < 0.1,
        "excluded": rng.random(n) < 0.1, "freq_cluster_id": rng.integers(0, 5, n),
        "freq_cluster_size": rng.integers(1, 50, n), "freq_cluster_weight": rng.random(n),
        "uniqueness_score": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        "sampler_weight": rng.gamma(2, 0.5, n),
    }).with_classes(np.array([0, 1, 2, -1][:classes] + list(range(3, classes - 1))), counts)
    return {c.name: c.as_list() for c in output_columns(table)}


def test_a_layer_read_back_gives_the_same_table(monkeypatch):
    for seed in range(4):
        columns = _layer_columns(seed=seed)
        assert assert_same(monkeypatch, columns, need_windows=True, need_composition=True) is None


def test_nulls_bools_nan_and_negative_zero(monkeypatch):
    columns = _layer_columns(50, seed=3)
    columns["uniqueness_score"][4] = None
    columns["uniqueness_score"][5] = float("nan")
    columns["class_entropy"][6] = None
    columns["class_entropy"][7] = -0.0
    columns["excluded"] = [None, True, False, 1, 0, 2, -1] + [0] * 43
    columns["excl_low_entropy"] = [0.0, float("nan"), -0.0, 1.5, None] + [1] * 45
    columns["row_off"][8] = True  # a bool is a number (1)
    columns["split"] = ["train", None, " val ", ""] + ["test"] * 46
    columns["image_path"][9] = None
    columns["mask_path"][10] = 7  # not text: str() of it
    assert assert_same(monkeypatch, columns, need_windows=True) is None


def test_text_from_a_csv_and_numpy_columns_read_as_before(monkeypatch):
    columns = _layer_columns(60, seed=4)
    csv_like = {k: ["" if v is None else repr(v) if isinstance(v, float) else str(v) for v in values]
                for k, values in columns.items()}
    csv_like["uniqueness_score"][3] = "  "
    csv_like["excluded"][:4] = ["True", "false", "No", "f"]
    assert assert_same(monkeypatch, csv_like, need_windows=True) is None
    mixed = dict(columns, row_off=[str(v) if i % 2 else v for i, v in enumerate(columns["row_off"])])
    assert assert_same(monkeypatch, mixed, need_windows=True) is None
    arrays = {k: np.array(v) if k.endswith("_path") or None not in v else v for k, v in columns.items()}
    arrays["patch_id"] = np.array(columns["patch_id"], dtype=np.int32)
    arrays["excluded"] = np.array(columns["excluded"], dtype=bool)
    assert assert_same(monkeypatch, arrays, need_windows=True) is None


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["patch_id"].__setitem__(3, c["patch_id"][9]), "appear more than once"),
    (lambda c: c["patch_id"].__setitem__(2, None), "patch_id is empty for row 3"),
    (lambda c: c["patch_id"].__setitem__(2, 1.5), "must hold whole numbers"),
    (lambda c: c["c_1"].__setitem__(5, 1.7), "must lie between 0 and 1"),
    (lambda c: c["c_1"].__setitem__(5, None), "do not sum to 1"),
    (lambda c: c.pop("c_1"), "do not sum to 1"),
    (lambda c: c["row_off"].__setitem__(4, -16), "must be at least 0"),
    (lambda c: c["patch_size"].__setitem__(4, 0), "must be at least 1"),
    (lambda c: c["col_off"].__setitem__(4, None), "col_off is empty"),
    (lambda c: c["row_off"].__setitem__(4, 3.5), "must hold whole numbers"),
    (lambda c: c["row_off"].__setitem__(4, float("inf")), "must hold whole numbers"),
    (lambda c: c["nodata_ratio"].__setitem__(4, 1.2), "nodata_ratio must lie between 0 and 1"),
    (lambda c: c["nodata_ratio"].__setitem__(4, "n/a"), "nodata_ratio holds text"),
    (lambda c: c["c_2"].__setitem__(6, "twelve"), "c_2 holds text"),
    (lambda c: c["uniqueness_score"].__setitem__(6, "x"), "uniqueness_score holds text"),
    (lambda c: c["class_entropy"].__setitem__(6, [1]), "class_entropy holds text"),
    (lambda c: c["patch_id"].__setitem__(6, "seven"), "patch_id holds text"),
])
def test_the_same_refusals(monkeypatch, edit, message):
    columns = _layer_columns(40, seed=5)
    edit(columns)
    error = assert_same(monkeypatch, columns, need_windows=True, need_composition=True)
    assert error is not None and message in error


def test_missing_fields_and_empty_layers_are_refused_as_before(monkeypatch):
    columns = _layer_columns(10)
    for name in ("row_off", "mask_path"):
        error = assert_same(monkeypatch, {k: v for k, v in columns.items() if k != name}, need_windows=True)
        assert "lacks the field(s)" in error
    without = {k: v for k, v in columns.items() if not k.startswith("c_")}
    assert "no class composition" in assert_same(monkeypatch, without, need_composition=True)
    assert "holds no patch" in assert_same(monkeypatch, {"patch_id": []})


# --- class_dist_json --------------------------------------------------------------------------------------------
def old_class_dist_json(table):
    if table.class_counts is None:
        return ["{}"] * len(table)
    keys = [str(int(v)) for v in table.class_values]
    return [json.dumps({k: round(float(f), 6) for k, f in zip(keys, row) if f > 0}, separators=(",", ":"))
            for row in table.fractions()]


def test_class_dist_json_is_byte_identical():
    rng = np.random.default_rng(7)
    for classes in (1, 2, 7, 30):
        counts = rng.integers(0, 5, (300, classes)) * rng.integers(0, 10 ** rng.integers(0, 7, (300, 1)), (300, 1))
        counts[:5] = 0
        counts[5, 0] = 10 ** 9  # a tiny share next to a huge one: rounds to 0.0, "1e-05"-like texts
        counts[5, -1] = 1
        counts[6, :] = 10 ** 5
        counts[6, 0] = 1
        values = np.sort(rng.choice(np.arange(-40, 300), classes, replace=False))
        table = PatchTable({"patch_id": np.arange(300)}).with_classes(values, counts)
        assert class_dist_json(table) == old_class_dist_json(table)
        shares = rng.random((300, classes)) ** 4  # stored fractions (read back from a layer)
        shares[rng.random((300, classes)) < 0.3] = 0
        shares = np.vstack([shares[:-1], np.full(classes, 1e-7)])
        table = PatchTable({"patch_id": np.arange(300)}).with_fractions(values, shares, np.full(300, 256.0))
        assert class_dist_json(table) == old_class_dist_json(table)
    bare = PatchTable({"patch_id": np.arange(3)})
    assert class_dist_json(bare) == old_class_dist_json(bare) == ["{}"] * 3
