"""Plan patch size and oversampling through Processing and qgis_process."""
import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from qgis.core import QgsProcessingFeedback, QgsVectorLayer

from balance_core.class_balance import class_balance

ALG = "patchbalancer:planbalance"
WRAPPER = Path(__file__).resolve().parents[2] / "scripts" / "qgis_process"


@pytest.fixture
def atlanta(data_dir):
    return {"IMAGE": str(data_dir / "atlanta/image_pan.tif"), "MASK": str(data_dir / "atlanta/labels.tif")}


def test_the_plan_matches_build_balanced_dataset(processing_run, atlanta, tmp_path):
    result = processing_run(ALG, {**atlanta, "PATCH_SIZES": "32,64,96", "CAPS": "1,3,5", "TARGET_RATIO": 5,
                                  "OUTPUT": str(tmp_path / "plan.gpkg"), "OUTPUT_CSV": str(tmp_path / "plan.csv"),
                                  "REPORT": str(tmp_path / "plan.html")}, feedback=QgsProcessingFeedback())
    with open(tmp_path / "plan.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(int(r["patch_size"]), float(r["cap"])) for r in rows] == [(s, c) for s in (32, 64, 96) for c in (1, 3, 5)]
    layer = QgsVectorLayer(str(tmp_path / "plan.gpkg"), "plan", "ogr")
    assert layer.featureCount() == 9 and sum(f["recommended"] for f in layer.getFeatures()) == 1
    del layer
    built = processing_run("patchbalancer:buildbalanceddataset", {**atlanta, "PATCH_SIZE": 64, "MAX_OVERSAMPLING": 3,
                                                                  "OUTPUT": str(tmp_path / "b.gpkg")})
    feats = list(QgsVectorLayer(built["OUTPUT"], "b", "ogr").getFeatures())
    labelled = np.array([64 * 64 * (1 - f["nodata_ratio"]) for f in feats])
    counts = np.array([[f["c_0"], f["c_1"]] for f in feats]) * labelled[:, None]
    b = class_balance(np.array([0, 1]), counts, np.array([f["sampler_weight"] for f in feats]),
                      np.array([f["excluded"] for f in feats], bool))
    row = next(r for r in rows if r["patch_size"] == "64" and float(r["cap"]) == 3)
    assert float(row["imbalance"]) == pytest.approx(b.weighted_imbalance, rel=1e-9)
    assert float(row["drawn_c_1"]) == pytest.approx(b.weighted_share[1], rel=1e-9)
    assert float(row["frame_c_1"]) == pytest.approx(b.raw_share[1], rel=1e-9)
    assert float(row["effective_sample_size"]) == pytest.approx(built["EFFECTIVE_SAMPLE_SIZE"], rel=1e-9)
    chosen = next(r for r in rows if r["recommended"] == "1")
    assert result["RECOMMENDED_PATCH_SIZE"] == int(chosen["patch_size"]) and result["RECOMMENDED_CAP"] == float(chosen["cap"])
    meeting = [r for r in rows if float(r["imbalance"]) <= 5]
    assert result["MEETS_TARGET"] == int(bool(meeting))
    if meeting:
        assert float(chosen["effective_sample_size"]) == max(float(r["effective_sample_size"]) for r in meeting)
    report = (tmp_path / "plan.html").read_text()
    assert report.count("<svg") == 1 and "Recommended" in report and "<polyline" in report


def test_the_plan_through_qgis_process_json(atlanta, tmp_path):
    done = subprocess.run([str(WRAPPER), "--json", "run", ALG, "--", *(f"{k}={v}" for k, v in atlanta.items()),
                           "PATCH_SIZES=64,128", "CAPS=2,5", "TARGET_RATIO=1.5", f"OUTPUT={tmp_path / 'p.gpkg'}",
                           f"REPORT={tmp_path / 'p.html'}"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(done.stdout)["results"]
    assert results["MEETS_TARGET"] == 0 and "No setting reaches 1.5 : 1" in results["RECOMMENDATION"]
    assert results["RECOMMENDED_PATCH_SIZE"] in (64, 128)


def test_bad_levers_are_refused_before_any_work(processing_run, atlanta, tmp_path):
    with pytest.raises(Exception, match="Patch sizes must be comma-separated whole numbers"):
        processing_run(ALG, {**atlanta, "PATCH_SIZES": "64,big", "OUTPUT": str(tmp_path / "p.gpkg")})
    assert not (tmp_path / "p.gpkg").exists()
