"""Split patches through processing.run and qgis_process; weights on a split layer (issue 16)."""
import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsRectangle,
    QgsSpatialIndex,
    QgsVectorLayer,
)

ALG = "patchbalancer:splitpatches"
WRAPPER = Path(__file__).resolve().parents[2] / "scripts" / "qgis_process"
SPLITS = ("train", "val", "test")


def features(path):
    layer = QgsVectorLayer(str(path), "layer", "ogr")
    assert layer.isValid(), path
    out = [(f.attributes(), QgsGeometry(f.geometry())) for f in layer.getFeatures()]
    names = layer.fields().names()
    del layer
    return names, [dict(zip(names, attrs)) for attrs, _ in out], [g for _, g in out]


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_split_the_demo_through_processing_run(processing_run, demo_output, tmp_path):
    feedback = QgsProcessingFeedback()
    result = processing_run(ALG, {"INPUT": demo_output["gpkg"], "OUTPUT": str(tmp_path / "split.gpkg"),
                                  "OUTPUT_FOLDER": str(tmp_path / "csv"), "REPORT": str(tmp_path / "split.html")},
                            feedback=feedback)
    names, rows, _ = features(tmp_path / "split.gpkg")
    assert "split" in names and "excl_split_buffer" in names
    assert "sampler_weight" not in names  # the demo's weights were computed without the split: dropped
    assert {r["split"] for r in rows} == set(SPLITS)
    usable = [r for r in rows if not r["excluded"]]
    shares = {s: sum(r["split"] == s for r in usable) / len(usable) for s in SPLITS}
    assert abs(shares["train"] - 0.7) < 0.06 and abs(shares["val"] - 0.15) < 0.06
    assert result["SPLIT_PATCHES"] == ", ".join(f"{s}: {sum(r['split'] == s for r in usable)}" for s in SPLITS)
    assert result["MAX_FRACTION_ERROR"] == pytest.approx(max(abs(shares[s] - f) for s, f in
                                                             zip(SPLITS, (0.7, 0.15, 0.15))))
    for name in SPLITS:
        csv_rows = read_csv(tmp_path / "csv" / f"{name}.csv")
        assert {r["split"] for r in csv_rows} == {name}
        assert sorted(int(r["patch_id"]) for r in csv_rows) == sorted(r["patch_id"] for r in usable if r["split"] == name)
        assert {"image_path", "mask_path", "row_off", "col_off", "patch_size", "class_dist_json"} <= set(csv_rows[0])
    report = (tmp_path / "split.html").read_text(encoding="utf-8")
    assert 'id="splits"' in report and 'id="classes"' in report and "pond" in report and "instances" in report
    assert result["WARNING_COUNT"] >= 1  # the demo has 2 ponds: far fewer than 50 instances in any split
    assert "fewer than 50" in report


def test_weights_zero_outside_train_through_compute_sampler_weights(processing_run, demo_output, tmp_path):
    split = processing_run(ALG, {"INPUT": demo_output["gpkg"], "BLOCK_SIZE": 320, "OUTPUT": str(tmp_path / "s.gpkg"),
                                 "COUNT_INSTANCES": False})
    assert split["BLOCK_COUNT"] >= 3
    feedback = QgsProcessingFeedback()
    weighted = processing_run("patchbalancer:computesamplerweights", {
        "INPUT": split["OUTPUT"], "OUTPUT": str(tmp_path / "w.gpkg"), "OUTPUT_CSV": str(tmp_path / "w.csv"),
        "REPORT": str(tmp_path / "w.html")}, feedback=feedback)
    _, rows, _ = features(tmp_path / "w.gpkg")
    train = [r for r in rows if r["split"] == "train"]
    others = [r for r in rows if r["split"] != "train"]
    assert others and all(r["sampler_weight"] == 0 for r in others)
    assert all(r["sampler_weight"] > 0 for r in train if not r["excluded"])
    assert np.mean([r["sampler_weight"] for r in train]) == pytest.approx(1.0)  # expected draws over train rows
    _, before, _ = features(tmp_path / "s.gpkg")
    assert [r["excluded"] for r in rows] == [r["excluded"] for r in before]  # val/test keep their rows, not excluded
    assert weighted["MAX_OVERSAMPLING"] <= 5 + 1e-9
    assert f"train ({len(train)} of {len(rows)} patches)" in (tmp_path / "w.html").read_text(encoding="utf-8")
    assert len(read_csv(tmp_path / "w.csv")) == len(rows)  # the full sampler CSV keeps every row, val/test at 0


def test_compute_sampler_weights_writes_the_split_csvs(processing_run, demo_output, tmp_path):
    split = processing_run(ALG, {"INPUT": demo_output["gpkg"], "COUNT_INSTANCES": False,
                                 "OUTPUT": str(tmp_path / "s.gpkg")})
    result = processing_run("patchbalancer:computesamplerweights", {
        "INPUT": split["OUTPUT"], "OUTPUT": str(tmp_path / "w.gpkg"), "OUTPUT_FOLDER": str(tmp_path / "csv")})
    assert result["OUTPUT_FOLDER"] == str(tmp_path / "csv")
    _, rows, _ = features(tmp_path / "w.gpkg")
    for name in SPLITS:
        csv_rows = read_csv(tmp_path / "csv" / f"{name}.csv")
        expected = {r["patch_id"]: r["sampler_weight"] for r in rows if r["split"] == name and not r["excluded"]}
        assert {int(r["patch_id"]): float(r["sampler_weight"]) for r in csv_rows} == pytest.approx(expected)
        assert (min(expected.values()) > 0) if name == "train" else (max(expected.values()) == 0)
    # a layer without a split: no CSV, a warning
    plain = processing_run("patchbalancer:computesamplerweights", {
        "INPUT": demo_output["gpkg"], "OUTPUT": "TEMPORARY_OUTPUT", "OUTPUT_FOLDER": str(tmp_path / "none")})
    assert plain["OUTPUT_FOLDER"] is None and not (tmp_path / "none").exists()


def test_weights_in_the_split_and_its_csvs(processing_run, demo_output, tmp_path):
    processing_run(ALG, {"INPUT": demo_output["gpkg"], "COMPUTE_WEIGHTS": True, "COUNT_INSTANCES": False,
                         "OUTPUT": str(tmp_path / "s.gpkg"), "OUTPUT_FOLDER": str(tmp_path)})
    _, rows, _ = features(tmp_path / "s.gpkg")
    assert all((r["sampler_weight"] > 0) == (r["split"] == "train" and not r["excluded"]) for r in rows)
    for name in SPLITS:
        weights = [float(r["sampler_weight"]) for r in read_csv(tmp_path / f"{name}.csv")]
        assert (min(weights) > 0) if name == "train" else (max(weights) == 0)


def test_no_pixel_in_two_splits_with_overlapping_patches(processing_run, demo_output, tmp_path):
    grid = processing_run("patchbalancer:createpatchgrid", {"IMAGE": demo_output["image"], "MASK": demo_output["mask"],
                                                             "PATCH_SIZE": 128, "STRIDE": 64,
                                                             "OUTPUT": str(tmp_path / "g.gpkg")})
    comp = processing_run("patchbalancer:computeclasscomposition", {"INPUT": grid["OUTPUT"],
                                                                      "OUTPUT": str(tmp_path / "c.gpkg")})
    result = processing_run(ALG, {"INPUT": comp["OUTPUT"], "BUFFER": 10.0, "COUNT_INSTANCES": False,
                                  "OUTPUT": str(tmp_path / "s.gpkg")})
    assert result["BUFFER_EXCLUDED"] > 0
    _, rows, geometries = features(tmp_path / "s.gpkg")
    usable = [i for i, r in enumerate(rows) if not r["excluded"]]
    index = QgsSpatialIndex()
    for i in usable:
        f = QgsFeature(i)
        f.setGeometry(geometries[i])
        index.addFeature(f)
    pairs = 0
    for i in usable:
        near = geometries[i].buffer(64.0, 1)  # neighbours up to 64 m away; none of another split within 10 m
        for j in index.intersects(near.boundingBox()):
            if j > i and rows[j]["split"] != rows[i]["split"]:
                pairs += 1
                assert geometries[i].distance(geometries[j]) >= 10.0 - 1e-6, (rows[i]["patch_id"], rows[j]["patch_id"])
    assert pairs > 0  # patches of different splits lie near each other (the check had something to check)


def test_regions_are_kept_whole(processing_run, demo_output, tmp_path):
    layer = QgsVectorLayer(demo_output["gpkg"], "demo", "ogr")
    extent = layer.extent()
    crs = layer.crs().authid()
    del layer
    regions = QgsVectorLayer(f"Polygon?crs={crs}", "regions", "memory")
    w, h = extent.width() / 4, extent.height()
    feats = []
    for k in range(4):  # four vertical strips
        f = QgsFeature()
        f.setGeometry(QgsGeometry.fromRect(QgsRectangle(extent.xMinimum() + k * w, extent.yMinimum(),
                                                        extent.xMinimum() + (k + 1) * w, extent.yMinimum() + h)))
        feats.append(f)
    regions.dataProvider().addFeatures(feats)
    result = processing_run(ALG, {"INPUT": demo_output["gpkg"], "BLOCKS": 2, "REGIONS": regions,
                                  "FRACTIONS": "0.5,0.25,0.25", "COUNT_INSTANCES": False,
                                  "OUTPUT": str(tmp_path / "r.gpkg")})
    del regions
    assert result["BLOCK_COUNT"] == 4
    _, rows, geometries = features(tmp_path / "r.gpkg")
    for k in range(4):
        inside = {r["split"] for r, g in zip(rows, geometries)
                  if extent.xMinimum() + k * w < g.centroid().asPoint().x() < extent.xMinimum() + (k + 1) * w}
        assert len(inside) == 1


def test_bad_settings_are_refused_before_the_run(provider, demo_output):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().createAlgorithmById(ALG)
    context = QgsProcessingContext()
    base = {"INPUT": demo_output["gpkg"], "OUTPUT": "TEMPORARY_OUTPUT"}
    ok, message = alg.checkParameterValues({**base, "FRACTIONS": "0.8,0.2"}, context)
    assert not ok and "one fraction per split" in message
    ok, message = alg.checkParameterValues({**base, "BLOCKS": 2}, context)
    assert not ok and "REGIONS" in message
    ok, message = alg.checkParameterValues({**base, "SPLIT_NAMES": "a,a,b"}, context)
    assert not ok and "differ" in message
    ok, message = alg.checkParameterValues({**base, "OUTPUT_FOLDER": str(Path(demo_output["gpkg"]).parent),
                                            "SPLIT_NAMES": "demo_report,val,test"}, context)
    assert ok, message  # demo_report.csv is not the html report: only equal paths are refused


def test_split_through_qgis_process_json(demo_output, tmp_path):
    def run(*args):
        return subprocess.run([str(WRAPPER), *args], capture_output=True, text=True, timeout=300)

    done = run("--json", "run", ALG, "--", f"INPUT={demo_output['gpkg']}", "BUFFER=64", "SEED=7",
               f"OUTPUT={tmp_path / 's.gpkg'}", f"OUTPUT_FOLDER={tmp_path / 'csv'}", f"REPORT={tmp_path / 's.html'}")
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(done.stdout)["results"]
    declared = set(json.loads(run("--json", "help", ALG).stdout)["outputs"])
    assert set(results) == declared
    assert results["OUTPUT_FOLDER"] == str(tmp_path / "csv") and (tmp_path / "csv" / "val.csv").is_file()
    _, rows, _ = features(tmp_path / "s.gpkg")
    assert sum(r["excl_split_buffer"] for r in rows) == results["BUFFER_EXCLUDED"]
    weighted = run("--json", "run", "patchbalancer:computesamplerweights", "--", f"INPUT={tmp_path / 's.gpkg'}",
                   f"OUTPUT={tmp_path / 'w.gpkg'}")
    assert weighted.returncode == 0, weighted.stdout + weighted.stderr
    _, rows, _ = features(tmp_path / "w.gpkg")
    assert all(r["sampler_weight"] == 0 for r in rows if r["split"] != "train")
    assert any(r["sampler_weight"] > 0 for r in rows if r["split"] == "train")


def test_deterministic_for_a_seed_through_processing(processing_run, demo_output, tmp_path):
    outs = []
    for k in range(2):
        processing_run(ALG, {"INPUT": demo_output["gpkg"], "SEED": 3, "COUNT_INSTANCES": False,
                             "OUTPUT": str(tmp_path / f"d{k}.gpkg")})
        _, rows, _ = features(tmp_path / f"d{k}.gpkg")
        outs.append([(r["patch_id"], r["split"], r["excluded"]) for r in rows])
    assert outs[0] == outs[1]
