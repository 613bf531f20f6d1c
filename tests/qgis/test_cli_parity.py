"""The command line without QGIS measures and weights exactly as the QGIS algorithm: the reference's documented
masks-only example, and the demo (`patch-balancer demo` vs the demo built through processing.run)."""
import csv
import sqlite3
from pathlib import Path

import pytest
import yaml

from balance_core import cli

REPO = Path(__file__).resolve().parents[2]
MEASURES = ("c_0", "c_1", "c_2", "class_entropy", "nodata_ratio", "excl_border_nodata", "excl_black_border",
            "excl_image_nodata", "excl_low_entropy", "excl_nodata_ratio", "excluded", "class_dist_json")


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return {(r["row_off"], r["col_off"]): r for r in csv.DictReader(fh)}


def test_reference_masks_only_example_measures_as_the_qgis_algorithm(processing_run, data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    document = yaml.safe_load((REPO / "examples" / "reference_masks_only.yaml").read_text())
    document["balanced_dataset"]["output"] = {"csv_path": str(tmp_path / "cli.csv")}
    conf = tmp_path / "conf.yaml"
    conf.write_text(yaml.safe_dump(document))
    assert cli.main(["build-balanced-dataset", str(conf), "--no-progress"]) == 0
    processing_run("patchbalancer:buildbalanceddataset", {
        "IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"), "PATCH_SIZE": 256,
        "NODATA": 255, "SAMPLING_METHOD": 5, "K_MIN": 4, "K_MAX": 16,  # 5 = composition_only (what rank_max is here)
        "OUTPUT": str(tmp_path / "qgis.gpkg"), "OUTPUT_CSV": str(tmp_path / "qgis.csv")})
    ours, theirs = _rows(tmp_path / "cli.csv"), _rows(tmp_path / "qgis.csv")
    assert ours.keys() == theirs.keys() and len(ours) == 9
    for key, row in ours.items():
        for name in MEASURES + ("freq_cluster_id", "sampler_weight"):
            assert row[name] == theirs[key][name], (key, name)


def test_cli_demo_reproduces_the_qgis_demo(demo_output, tmp_path):
    assert cli.main(["demo", str(tmp_path / "demo"), "--no-progress", "-q"]) == 0
    ours = _rows(tmp_path / "demo" / "demo_patches.csv")
    with sqlite3.connect(demo_output["gpkg"]) as con:
        (layer,) = con.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'").fetchone()
        wanted = ["row_off", "col_off", "c_0", "c_1", "c_2", "c_3", "excluded", "sampler_weight"]
        theirs = {(str(r[0]), str(r[1])): r for r in con.execute(f'SELECT {", ".join(wanted)} FROM "{layer}"')}
    assert len(theirs) == len(ours) == 400
    for key, row in theirs.items():
        for j, name in enumerate(wanted[2:], start=2):
            assert float(ours[key][name]) == pytest.approx(float(row[j]), rel=0, abs=1e-12), (key, name)
