"""The Modeler chain grid → composition → split → weights (models/patch_balancer_split_chain.model3)."""
import csv
import sys
from pathlib import Path

from qgis.core import QgsProcessingModelAlgorithm, QgsVectorLayer

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "patch_balancer_split_chain.model3"
STEPS = ("grid", "composition", "split", "weights")


def load():
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODEL))
    return model


def test_the_split_model_opens_valid_and_is_what_make_model_writes(provider):
    model = load()
    ok, issues = model.validate()
    assert ok and not issues, issues
    assert [model.childAlgorithm(c).algorithmId() for c in STEPS] == [
        "patchbalancer:createpatchgrid", "patchbalancer:computeclasscomposition", "patchbalancer:splitpatches",
        "patchbalancer:computesamplerweights"]
    outputs = {p.name() for p in model.destinationParameterDefinitions()}
    assert outputs == {"weights:Balanced patches", "weights:Split CSVs", "weights:Sampler CSV",
                       "weights:Balance report", "split:Split report"}
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from make_model import build_split_model
    finally:
        sys.path.remove(str(REPO / "scripts"))
    fresh = build_split_model()
    for child_id in STEPS:
        ours, theirs = fresh.childAlgorithm(child_id), model.childAlgorithm(child_id)
        assert sorted(ours.parameterSources()) == sorted(theirs.parameterSources()), child_id
        for key, sources in ours.parameterSources().items():
            assert [s.toVariant() for s in sources] == [s.toVariant() for s in theirs.parameterSources()[key]], key


def test_the_split_model_runs(processing_run, demo_output, tmp_path):
    result = processing_run(load(), {
        "images": [demo_output["image"]], "masks": [demo_output["mask"]], "patch_size": 128,
        "fractions": "0.6,0.2,0.2", "block_size": 0.0, "buffer": 0.0, "max_oversampling": 5.0,
        "weights:Balanced patches": str(tmp_path / "balanced.gpkg"), "weights:Split CSVs": str(tmp_path / "csv"),
        "weights:Sampler CSV": str(tmp_path / "all.csv"), "weights:Balance report": str(tmp_path / "balance.html"),
        "split:Split report": str(tmp_path / "split.html")})
    layer = QgsVectorLayer(result["weights:Balanced patches"], "balanced", "ogr")
    try:
        rows = [(f["split"], f["sampler_weight"], f["excluded"]) for f in layer.getFeatures()]
    finally:
        del layer
    assert len(rows) == 400 and {s for s, _, _ in rows} == {"train", "val", "test"}
    assert all((w > 0) == (s == "train" and not e) for s, w, e in rows)
    for name in ("train", "val", "test"):
        with open(tmp_path / "csv" / f"{name}.csv", newline="") as fh:
            assert {r["split"] for r in csv.DictReader(fh)} == {name}
    assert "instances" in (tmp_path / "split.html").read_text(encoding="utf-8")
    assert "Weighted split" in (tmp_path / "balance.html").read_text(encoding="utf-8")
