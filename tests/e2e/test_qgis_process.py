"""End to end through qgis_process.bin (scripts/qgis_process), as a command-line user runs it."""
import csv
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WRAPPER = REPO / "scripts" / "qgis_process"


def qgis_process(*args):
    return subprocess.run([str(WRAPPER), *args], capture_output=True, text=True, timeout=300)


def declared_outputs(name):
    helped = qgis_process("--json", "help", f"patchbalancer:{name}")
    assert helped.returncode == 0, helped.stderr
    return set(json.loads(helped.stdout)["outputs"])


def run_json(name, *params):
    result = qgis_process("--json", "run", f"patchbalancer:{name}", "--", *params)
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = json.loads(result.stdout)["results"]
    assert set(outputs) == declared_outputs(name), name  # every declared output comes back
    return outputs


def test_folder_of_tiles_through_the_four_steps(lyon_tiles, tmp_path):
    """The README's command-line batch: a folder of tiles, step by step, each output feeding the next."""
    images, masks = lyon_tiles
    grid = run_json("createpatchgrid", f"IMAGE_FOLDER={images}", f"MASK_FOLDER={masks}", "PATCH_SIZE=64",
                    f"OUTPUT={tmp_path / 'grid.gpkg'}")
    assert grid["PAIR_COUNT"] == 4 and grid["PATCH_COUNT"] == 4 * 36
    composed = run_json("computeclasscomposition", f"INPUT={grid['OUTPUT']}", f"OUTPUT={tmp_path / 'comp.gpkg'}")
    assert composed["CLASS_COUNT"] == 3
    unique = run_json("computevisualuniqueness", f"INPUT={composed['OUTPUT']}", "EMBEDDER=descriptor",
                      f"OUTPUT={tmp_path / 'uniq.gpkg'}")
    assert unique["SCORED_COUNT"] == composed["PATCH_COUNT"] - composed["EXCLUDED_COUNT"]
    weights = run_json("computesamplerweights", f"INPUT={unique['OUTPUT']}", "MAX_OVERSAMPLING=3",
                       f"OUTPUT={tmp_path / 'balanced.gpkg'}", f"OUTPUT_CSV={tmp_path / 'balanced.csv'}",
                       f"REPORT={tmp_path / 'report.html'}")
    assert weights["MAX_OVERSAMPLING"] <= 3 + 1e-9
    assert (tmp_path / "report.html").read_text().count("<svg") == 2
    with open(tmp_path / "balanced.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len({r["image_path"] for r in rows}) == 4 and len({r["patch_id"] for r in rows}) == 144


def test_algorithm_is_listed_with_help():
    listed = qgis_process("list")
    assert "patchbalancer:buildbalanceddataset" in listed.stdout
    helped = qgis_process("help", "patchbalancer:buildbalanceddataset")
    assert helped.returncode == 0
    for key in ("IMAGE", "MASK", "PATCH_SIZE", "IGNORE_BAND_NODATA", "OUTPUT_CSV", "MODE", "SAMPLING_METHOD", "EMBEDDER",
                "BANDS", "BATCH_SIZE", "DEVICE", "K_NEIGHBORS", "KNN_BACKEND", "EMBEDDINGS_CACHE"):
        assert key in helped.stdout


def test_json_run_returns_every_output(data_dir, tmp_path):
    gpkg, table = tmp_path / "atlanta.gpkg", tmp_path / "atlanta.csv"
    result = qgis_process("--json", "run", "patchbalancer:buildbalanceddataset", "--",
                          f"IMAGE={data_dir / 'atlanta/image_pan.tif'}", f"MASK={data_dir / 'atlanta/labels.tif'}",
                          "PATCH_SIZE=64", f"OUTPUT={gpkg}", f"OUTPUT_CSV={table}")
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)["results"]
    assert set(outputs) == declared_outputs("buildbalanceddataset")
    assert outputs["OUTPUT"] == str(gpkg) and outputs["OUTPUT_CSV"] == str(table)
    assert outputs["PATCH_COUNT"] == 14 * 14
    with sqlite3.connect(gpkg) as db:
        assert db.execute("SELECT count(*) FROM atlanta").fetchone()[0] == 196
        assert db.execute("SELECT useAsDefault FROM layer_styles").fetchall() == [(1,)]
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 196 and all(float(r["sampler_weight"]) >= 0 for r in rows)


def test_failure_exits_non_zero_with_the_reason(data_dir, tmp_path):
    result = qgis_process("run", "patchbalancer:buildbalanceddataset", "--",
                          f"IMAGE={data_dir / 'atlanta/image_pan.tif'}", f"MASK={data_dir / 'lyon/labels.tif'}",
                          f"OUTPUT={tmp_path / 'x.gpkg'}")
    assert result.returncode != 0
    assert "different CRS" in result.stdout + result.stderr
    assert not (tmp_path / "x.gpkg").exists()


@pytest.mark.parametrize("value, expected", [("", 0), ("255", 0), ("2", 6)])
def test_optional_nodata_from_the_command_line(data_dir, tmp_path, value, expected):
    """An empty NODATA is no value; a given one is honoured. Lyon's mask holds 0, 1, 2 and no 255: NODATA=2
    (the park class) makes the 6 patches it covers or borders nodata and excluded, so an ignored value fails."""
    result = qgis_process("--json", "run", "patchbalancer:buildbalanceddataset", "--",
                          f"IMAGE={data_dir / 'lyon/image_rgb.tif'}", f"MASK={data_dir / 'lyon/labels.tif'}",
                          "PATCH_SIZE=128", f"NODATA={value}", f"OUTPUT={tmp_path / 'n.gpkg'}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"]["EXCLUDED_COUNT"] == expected
    with sqlite3.connect(tmp_path / "n.gpkg") as db:
        worst = db.execute("SELECT max(nodata_ratio) FROM n").fetchone()[0]
    assert (worst > 0.9) if value == "2" else (worst == 0)


def test_dinov2_run_from_the_command_line(data_dir, tmp_path, tiny_dinov2):
    """torch and transformers load inside qgis_process; the model comes through from_pretrained."""
    gpkg, cache = tmp_path / "u.gpkg", tmp_path / "emb.parquet"
    result = qgis_process("--json", "run", "patchbalancer:buildbalanceddataset", "--",
                          f"IMAGE={data_dir / 'quebec/tiled_image_1.tif'}",
                          f"MASK={data_dir / 'quebec/tiled_label_1_nodata_unset.tif'}", "PATCH_SIZE=128",
                          "MODE=2", "SAMPLING_METHOD=3", f"EMBEDDER={tiny_dinov2}", "BANDS=1", "K_NEIGHBORS=3",
                          f"EMBEDDINGS_CACHE={cache}", f"OUTPUT={gpkg}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"]["EMBEDDINGS_CACHE"] == str(cache)
    with sqlite3.connect(gpkg) as db:
        scores = [r[0] for r in db.execute("SELECT uniqueness_score FROM u")]
    assert len(scores) == 16 and all(s is not None and s >= 0 for s in scores)
    assert cache.stat().st_size > 0


def test_contradictory_mode_and_method_fail_before_work(data_dir, tmp_path):
    result = qgis_process("run", "patchbalancer:buildbalanceddataset", "--",
                          f"IMAGE={data_dir / 'lyon/image_rgb.tif'}", f"MASK={data_dir / 'lyon/labels.tif'}",
                          "MODE=0", "SAMPLING_METHOD=6", f"OUTPUT={tmp_path / 'x.gpkg'}")
    assert result.returncode != 0
    assert "needs visual uniqueness" in result.stdout + result.stderr
    assert not (tmp_path / "x.gpkg").exists()
