"""class_balance through Processing: the default, TARGET / BALANCE_STRENGTH, LOSS_WEIGHTS, the log, CSV inputs."""
import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from qgis.core import QgsProcessingFeedback, QgsVectorLayer

from balance_core.class_balance import class_balance

ALG = "patchbalancer:buildbalanceddataset"
WEIGHTS = "patchbalancer:computesamplerweights"
WRAPPER = Path(__file__).resolve().parents[2] / "scripts" / "qgis_process"


class Log(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.lines = []

    def pushInfo(self, text):
        self.lines.append(text)
        super().pushInfo(text)

    def pushWarning(self, text):
        self.lines.append(text)
        super().pushWarning(text)


@pytest.fixture
def atlanta(data_dir, tmp_path):
    class_map = tmp_path / "classes.csv"
    class_map.write_text("0,background,#cccccc\n1,building,#ff0000\n")
    return {"IMAGE": str(data_dir / "atlanta/image_pan.tif"), "MASK": str(data_dir / "atlanta/labels.tif"),
            "PATCH_SIZE": 64, "CLASS_MAP": str(class_map)}


def shares(path):
    layer = QgsVectorLayer(str(path), "p", "ogr")
    rows = [(f["c_0"], f["c_1"], f["nodata_ratio"], f["sampler_weight"], f["excluded"]) for f in layer.getFeatures()]
    del layer
    c0, c1, nodata, w, excluded = map(np.array, zip(*rows))
    labelled = 64 * 64 * (1 - nodata)
    return class_balance(np.array([0, 1]), np.stack([c0, c1], axis=1) * labelled[:, None], w, excluded.astype(bool))


def test_the_default_rebalances_and_writes_the_loss_weights(processing_run, atlanta, tmp_path):
    log = Log()
    result = processing_run(ALG, {**atlanta, "OUTPUT": str(tmp_path / "a.gpkg"), "LOSS_WEIGHTS": str(tmp_path / "loss.json"),
                                  "REPORT": str(tmp_path / "r.html")}, feedback=log)
    balance = shares(tmp_path / "a.gpkg")
    assert balance.raw_imbalance > 20 and balance.weighted_imbalance < 5  # 22.9 : 1 → about 4.3 : 1
    assert result["MAX_OVERSAMPLING"] <= 5 + 1e-9  # the default cap of class_balance
    assert any("Class balance" in line and "building" in line for line in log.lines)  # limiting class, by name
    loss = json.loads((tmp_path / "loss.json").read_text())
    assert loss["class_values"] == [0, 1] and loss["by_class"]["1"]["name"] == "building"
    drawn = balance.weighted_share
    np.testing.assert_allclose(loss["weights"], drawn.max() / drawn, rtol=1e-9)  # by hand: largest share / share
    assert loss["by_class"]["1"]["weight_without_sampling"] > 20 > loss["by_class"]["1"]["weight"]
    report = (tmp_path / "r.html").read_text()
    assert "target share" in report and "loss weight, after sampling" in report


def test_strength_zero_keeps_the_raw_shares_and_a_listed_target_is_followed(processing_run, atlanta, tmp_path):
    processing_run(ALG, {**atlanta, "BALANCE_STRENGTH": 0.0, "OUTPUT": str(tmp_path / "raw.gpkg")})
    raw = shares(tmp_path / "raw.gpkg")
    np.testing.assert_allclose(raw.weighted_share, raw.raw_share, atol=1e-6)
    processing_run(ALG, {**atlanta, "TARGET": "1:0.1", "OUTPUT": str(tmp_path / "t.gpkg")})
    assert shares(tmp_path / "t.gpkg").weighted_share[1] == pytest.approx(0.1, abs=1e-6)


@pytest.mark.parametrize("method", ["repeat_factor", "sqrt_inverse_freq", "class_balance"])
def test_methods_by_name_through_qgis_process(atlanta, tmp_path, method):
    out = tmp_path / "m.gpkg"
    done = subprocess.run([str(WRAPPER), "--json", "run", ALG, "--", *(f"{k}={v}" for k, v in atlanta.items()),
                           f"SAMPLING_METHOD={['', 'rank_max', 'rank_multiply', 'rank_add', 'multiplicative', 'composition_only', 'uniqueness_only', 'class_balance', 'repeat_factor', 'sqrt_inverse_freq'].index(method)}",
                           "MAX_OVERSAMPLING=3", "RFS_THRESHOLD=0.9",  # building is in more than 30 % of the patches
                           f"OUTPUT={out}", f"LOSS_WEIGHTS={tmp_path / 'l.json'}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(done.stdout)["results"]
    assert results["MAX_OVERSAMPLING"] <= 3 + 1e-9 and results["LOSS_WEIGHTS"] == str(tmp_path / "l.json")
    balance = shares(out)
    assert balance.weighted_share[1] > balance.raw_share[1]  # each method draws the rare class more


def test_a_trainer_csv_with_empty_entropy_cells_is_read(processing_run, tmp_path):
    """A CSV of patch records as pytorch_segmentation_models_trainer writes it: no geometry, an all-nodata
    patch with an empty class_entropy, flags as True/False."""
    path = tmp_path / "balanced_dataset.csv"
    rows = [
        ("a.tif", "a_mask.tif", 0, 0, '{"0": 0.9, "1": 0.1}', "0.325", "0.0", "False"),
        ("a.tif", "a_mask.tif", 0, 256, '{"0": 1.0}', "0.0", "0.0", "False"),
        ("a.tif", "a_mask.tif", 256, 0, '{"0": 1.0}', "0.0", "0.0", "False"),
        ("a.tif", "a_mask.tif", 256, 256, "{}", "", "1.0", "True"),
    ]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image_path", "mask_path", "row_off", "col_off", "class_dist_json", "class_entropy",
                         "nodata_ratio", "excluded"])
        writer.writerows(rows)
    result = processing_run(WEIGHTS, {"INPUT": str(path), "OUTPUT": str(tmp_path / "w.gpkg"),
                                      "OUTPUT_CSV": str(tmp_path / "w.csv")})
    assert result["PATCH_COUNT"] == 4 and result["EXCLUDED_COUNT"] == 1
    with open(tmp_path / "w.csv", newline="") as fh:
        weights = [float(r["sampler_weight"]) for r in csv.DictReader(fh)]
    assert weights[3] == 0 and weights[0] == max(weights)
