"""`patch-balancer`: the reference's YAML (its documented and its code's keys) runs, every ignored key is reported,
include_excluded, mixed sizes, external embeddings, GeoJSON/GeoPackage in the rasters' CRS, exit codes."""
import csv
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

from balance_core import cli
from balance_core.errors import InvalidParameterError
from balance_core.reference_yaml import parse_build, parse_coreset

REPO = Path(__file__).resolve().parents[2]
LYON = REPO / "tests" / "data" / "lyon"


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _records(size=256, step=256, extent=768, **extra):
    return [dict(image_path=str(LYON / "image_rgb.tif"), mask_path=str(LYON / "labels.tif"), row_off=r, col_off=c,
                 patch_size=size, **extra)
            for r in range(0, extent - size + 1, step) for c in range(0, extent - size + 1, step)]


def _run(tmp_path, document, *args):
    path = tmp_path / "conf.yaml"
    path.write_text(yaml.safe_dump(document))
    return cli.main([*args, str(path), "--no-progress"])


def test_the_references_documented_masks_only_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # its paths are relative to the repository, as the reference reads them (working folder)
    document = yaml.safe_load((REPO / "examples" / "reference_masks_only.yaml").read_text())
    document["balanced_dataset"]["output"] = {"csv_path": str(tmp_path / "out.csv"),
                                              "geojson_path": str(tmp_path / "out.geojson")}
    assert _run(tmp_path, document, "build-balanced-dataset") == 0
    err = capsys.readouterr().err
    assert "rank_max combines a composition rank with a uniqueness rank" in err  # the docs' example, said once
    rows = _rows(tmp_path / "out.csv")
    assert len(rows) == 9 and {"sampler_weight", "class_dist_json", "has_mask_border_nodata"} <= set(rows[0])
    # the measures are the engine's, the same the QGIS algorithm gives (tests/qgis/test_cli_parity.py)
    from balance_core import BalanceConfig, build_balanced_dataset

    table, _ = build_balanced_dataset([(str(LYON / "image_rgb.tif"), str(LYON / "labels.tif"))],
                                      BalanceConfig(patch_size=256, nodata=255, method="composition_only",
                                                    k_min=4, k_max=16))
    for i, row in enumerate(rows):
        for j, value in enumerate(table.class_values):
            assert float(row[f"c_{value}"]) == table.fractions()[i, j]
        assert float(row["class_entropy"]) == table["class_entropy"][i]
        assert float(row["sampler_weight"]) == table["sampler_weight"][i]
    geojson = json.loads((tmp_path / "out.geojson").read_text())
    assert geojson["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::3946"  # the rasters' own CRS
    assert len(geojson["features"]) == 9


def test_every_ignored_key_is_reported():
    document = {"balanced_dataset": {
        "mode": "masks_only", "sampling_method": "composition_only", "colour": "red",
        "input": {"patch_records": _records(), "stride": 64, "image_dir": "/x", "typo_key": 1},
        "clustering": {"k": 5, "k_selection": "elbow", "n_clusters": 3},
        "uniqueness": {"k_neighbors": 5, "backend": "hnsw", "extra": 1},
        "embeddings": {"dino_model": "dinov2-small", "parquet_path": "/tmp/e.parquet", "gpu_id": 1},
        "exclusion": {"exclude_border_nodata": True, "nodata_class": 255, "sigma": 2},
        "boost": {"rare_class_boost": True, "rare_class_multiplier": 3.0},
        "output": {"csv_path": "/tmp/x.csv", "geojson_crs": "EPSG:4326", "compress": True},
    }}
    notes = "\n".join(parse_build(document).notes)
    for key in ("balanced_dataset.colour", "input.stride", "input.image_dir", "input.typo_key", "clustering.k ",
                "clustering.n_clusters", "uniqueness.extra", "embeddings.gpu_id", "exclusion.sigma",
                "balanced_dataset.boost", "output.geojson_crs", "output.compress",
                "The embeddings file (embeddings_cache) is ignored"):
        assert key in notes, key


def test_docs_and_code_spellings_are_both_read(tmp_path):
    docs = parse_build({"balanced_dataset": {"mode": "embeddings", "input": {"patch_records": _records()},
                                             "exclusion": {"exclude_border_nodata": False, "exclude_black_border": False},
                                             "output": {"csv_path": "x.csv"}}})
    code = parse_build({"mode": "both", "input": {"patch_records": _records()},  # no balanced_dataset: block
                        "exclusion": {"exclude_mask_border_nodata": False, "exclude_image_black_border": False,
                                      "min_entropy_threshold": 0.0, "max_nodata_ratio": 1.0},
                        "output": {"csv_path": "x.csv"}})
    for spec in (docs, code):
        assert spec.config.mode == "both"
        assert not spec.config.exclude_border_nodata and not spec.config.exclude_black_border
    assert code.config.min_entropy is None and code.config.max_nodata_ratio is None  # 0 and 1 disable, as there
    with pytest.raises(InvalidParameterError, match="disagree"):
        parse_build({"input": {"patch_records": _records()}, "output": {"csv_path": "x.csv"},
                     "exclusion": {"exclude_border_nodata": True, "exclude_mask_border_nodata": False}})
    records_csv = tmp_path / "records.csv"
    with open(records_csv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(_records()[0]))
        writer.writeheader()
        writer.writerows(_records())
    from_csv = parse_build({"input": {"patch_records": str(records_csv)}, "output": {"csv_path": "x.csv"}})
    assert len(from_csv.records["row_off"]) == 9 and from_csv.records_source == str(records_csv)


def test_include_excluded_false_leaves_them_out_with_weights_of_mean_one(tmp_path):
    document = {"balanced_dataset": {
        "mode": "masks_only", "sampling_method": "class_balance",
        "input": {"patch_records": _records(size=128, step=128)},
        "exclusion": {"nodata_class": 255, "min_entropy_threshold": 0.3},  # single-class patches excluded
        "output": {"csv_path": str(tmp_path / "all.csv")}}}
    assert _run(tmp_path, document, "build-balanced-dataset") == 0
    document["balanced_dataset"]["output"] = {"csv_path": str(tmp_path / "kept.csv"), "include_excluded": False}
    assert _run(tmp_path, document, "build-balanced-dataset") == 0
    everything, kept = _rows(tmp_path / "all.csv"), _rows(tmp_path / "kept.csv")
    excluded = [r for r in everything if r["excluded"] == "1"]
    assert excluded and len(kept) == len(everything) - len(excluded)
    assert all(r["excluded"] == "0" for r in kept)
    weights = np.array([float(r["sampler_weight"]) for r in kept])
    assert weights.mean() == pytest.approx(1.0)  # expected draws per epoch over the rows written
    assert weights.max() <= 5.0 + 1e-9  # the cap holds over the rows written, not over rows that are gone
    assert {(r["row_off"], r["col_off"]) for r in kept} == {(r["row_off"], r["col_off"]) for r in everything
                                                            if r["excluded"] == "0"}


def test_mixed_patch_sizes_in_one_run(tmp_path):
    records = _records(size=256) + _records(size=128, step=384)
    document = {"balanced_dataset": {"input": {"patch_records": records}, "exclusion": {"nodata_class": 255},
                                     "output": {"csv_path": str(tmp_path / "mixed.csv"),
                                                "gpkg_path": str(tmp_path / "mixed.gpkg")}}}
    assert _run(tmp_path, document, "build-balanced-dataset") == 0
    rows = _rows(tmp_path / "mixed.csv")
    assert sorted({r["patch_size"] for r in rows}) == ["128", "256"] and len(rows) == 9 + 4
    import rasterio

    with rasterio.open(LYON / "labels.tif") as src:
        mask = src.read(1)
    for r in rows:
        ro, co, s = int(r["row_off"]), int(r["col_off"]), int(r["patch_size"])
        assert float(r["c_1"]) == pytest.approx(np.mean(mask[ro:ro + s, co:co + s] == 1), abs=1e-12)
    osgeo = pytest.importorskip("osgeo.ogr")
    source = osgeo.Open(str(tmp_path / "mixed.gpkg"))  # kept: its layer dies with it
    layer = source.GetLayer(0)
    assert layer.GetFeatureCount() == 13 and layer.GetSpatialRef().GetAuthorityCode(None) == "3946"
    envelopes = sorted(round(f.GetGeometryRef().GetEnvelope()[1] - f.GetGeometryRef().GetEnvelope()[0], 6)
                       for f in layer)
    assert envelopes[0] * 2 == pytest.approx(envelopes[-1])  # 128 px and 256 px footprints


def test_embedding_column_and_parquet_give_the_same_uniqueness(tmp_path):
    pytest.importorskip("pyarrow")
    base = {"mode": "both", "sampling_method": "uniqueness_only", "exclusion": {"nodata_class": 255},
            "uniqueness": {"k_neighbors": 3}}
    computed = dict(base, input={"patch_records": _records(size=128, step=128)},
                    embeddings={"dino_model": "descriptor", "parquet_path": str(tmp_path / "cache.parquet")},
                    output={"csv_path": str(tmp_path / "computed.csv")})
    assert _run(tmp_path, {"balanced_dataset": computed}, "build-balanced-dataset") == 0
    import pyarrow.parquet as pq

    cache = pq.read_table(tmp_path / "cache.parquet").to_pylist()
    vectors = {(c["row_off"], c["col_off"]): c["embedding"] for c in cache}
    records = [dict(r, embedding=json.dumps(vectors[(r["row_off"], r["col_off"])]))
               for r in reversed(_records(size=128, step=128)) if (r["row_off"], r["col_off"]) in vectors]
    by_column = dict(base, input={"patch_records": records, "embedding_column": "embedding"},
                     output={"csv_path": str(tmp_path / "column.csv")})
    assert _run(tmp_path, {"balanced_dataset": by_column}, "build-balanced-dataset") == 0
    by_parquet = dict(base, input={"patch_records": _records(size=128, step=128)},
                      uniqueness={"k_neighbors": 3, "embeddings_parquet": str(tmp_path / "cache.parquet")},
                      output={"csv_path": str(tmp_path / "parquet.csv")})
    assert _run(tmp_path, {"balanced_dataset": by_parquet}, "build-balanced-dataset") == 0
    expected = {(r["row_off"], r["col_off"]): r["uniqueness_score"] for r in _rows(tmp_path / "computed.csv")}
    for name in ("column.csv", "parquet.csv"):
        got = {(r["row_off"], r["col_off"]): r["uniqueness_score"] for r in _rows(tmp_path / name)}
        assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}


def test_postgres_block_under_input_as_the_docs_write_it(tmp_path, monkeypatch, capsys):
    """A fake DB-API driver stands in for the server: the query, the renamed columns, no password printed."""
    seen = {}

    class Cursor:
        description = [(n,) for n in ("file_path", "mask_path", "row_off", "col_off", "patch_size", "class_dist",
                                      "uniqueness_score", "class_entropy", "nodata_ratio")]

        def execute(self, query):
            seen["query"] = query

        def fetchall(self):
            return [(str(LYON / "image_rgb.tif"), str(LYON / "labels.tif"), r, c, 256,
                     {"0": 0.5, "1": 0.5} if (r + c) % 512 else {"0": 1.0}, None, None, 0.0)
                    for r in (0, 256, 512) for c in (0, 256, 512)]

    class Connection:
        def cursor(self):
            return Cursor()

        def close(self):
            pass

    def connect(*args, **kwargs):
        seen["kwargs"] = kwargs
        return Connection()

    monkeypatch.setitem(sys.modules, "psycopg", types.SimpleNamespace(connect=connect))
    document = {"balanced_dataset": {
        "mode": "masks_only", "sampling_method": "composition_only",
        "input": {"host": "localhost", "port": 5432, "database": "dataset_explorer", "user": "postgres",
                  "password": "s3cret-pw", "table": "tiles", "where_clause": "nodata_ratio < 0.05"},
        "clustering": {"k_min": 2, "k_max": 3},
        "output": {"csv_path": str(tmp_path / "pg.csv")}}}
    assert _run(tmp_path, document, "build-balanced-dataset") == 0
    assert seen["query"].endswith("FROM tiles WHERE nodata_ratio < 0.05")
    assert seen["kwargs"]["password"] == "s3cret-pw" and seen["kwargs"]["dbname"] == "dataset_explorer"
    out = capsys.readouterr()
    assert "s3cret-pw" not in out.out + out.err and "password in a YAML file" in out.err
    rows = _rows(tmp_path / "pg.csv")
    assert len(rows) == 9 and rows[1]["c_1"] == "0.5"


def test_exit_codes(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("balanced_dataset: [unclosed")
    assert cli.main(["build-balanced-dataset", str(bad)]) == 1
    assert cli.main(["build-balanced-dataset", str(tmp_path / "missing.yaml")]) == 1
    document = {"balanced_dataset": {"input": {"patch_records": _records()}, "output": {"csv_path": str(LYON / "labels.tif")}}}
    assert _run(tmp_path, document, "build-balanced-dataset") == 1  # an output that is an input: refused
    monkeypatch.setattr(cli, "run_build", lambda *a, **k: 1 / 0)
    document["balanced_dataset"]["output"]["csv_path"] = str(tmp_path / "x.csv")
    assert _run(tmp_path, document, "build-balanced-dataset") == 2
    assert "ZeroDivisionError" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_select_coreset_cli_keeps_the_input_columns(tmp_path):
    shutil.copy(LYON / "labels.tif", tmp_path / "labels.tif")
    document = {"balanced_dataset": {"input": {"patch_records": _records(size=128, step=128, split="train")},
                                     "exclusion": {"nodata_class": 255, "min_entropy_threshold": 0.2},
                                     "output": {"csv_path": str(tmp_path / "balanced.csv")}}}
    assert _run(tmp_path, document, "build-balanced-dataset") == 0
    coreset = {"coreset": {"method": "cb", "budget": 10, "budget_mode": "count", "exclude_low_entropy": True,
                           "input_csv_path": str(tmp_path / "balanced.csv"),
                           "output_csv_path": str(tmp_path / "coreset.csv"), "recompute_weights": "class_balance",
                           "device": "cuda", "unknown": 1}}
    assert _run(tmp_path, coreset, "select-coreset") == 0
    rows = _rows(tmp_path / "coreset.csv")
    assert rows[0]["split"] == "train" and {"coreset_score", "coreset_selected"} <= set(rows[0])
    selected = [r for r in rows if r["coreset_selected"] == "True"]
    assert len(selected) == 10 and all(r["excluded"] == "0" for r in selected)
    assert all(float(r["sampler_weight"]) == 0 for r in rows if r["coreset_selected"] == "False")
    assert np.mean([float(r["sampler_weight"]) for r in selected]) == pytest.approx(1.0)
    assert all(r["coreset_score"] == "" for r in rows if r["excluded"] == "1")
    notes = parse_coreset(coreset).notes
    assert any("coreset.unknown" in n for n in notes) and any("coreset.device" in n for n in notes)


def test_split_block_writes_one_csv_per_split_and_weights_train_only(tmp_path):
    document = {"balanced_dataset": {
        "input": {"patch_records": _records(size=64, step=64)}, "exclusion": {"nodata_class": 255},
        "split": {"names": ["train", "val"], "fractions": "0.75,0.25", "blocks": "grid", "block_size": 19.2,
                  "csv_folder": str(tmp_path / "splits")},
        "output": {"csv_path": str(tmp_path / "all.csv")}}}
    assert _run(tmp_path, document, "build-balanced-dataset") == 0
    rows = _rows(tmp_path / "all.csv")
    assert {r["split"] for r in rows} == {"train", "val"}
    assert all(float(r["sampler_weight"]) == 0 for r in rows if r["split"] == "val")
    assert any(float(r["sampler_weight"]) > 0 for r in rows if r["split"] == "train")
    train, val = _rows(tmp_path / "splits" / "train.csv"), _rows(tmp_path / "splits" / "val.csv")
    assert len(train) + len(val) == sum(r["excluded"] == "0" for r in rows)
    with pytest.raises(InvalidParameterError, match="regions need polygons"):
        parse_build({"input": {"patch_records": _records()}, "split": {"blocks": "region"}})
