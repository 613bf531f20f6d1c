"""What an analyst sees of the outputs in the QGIS desktop: the Modeler file, the names of output layers and
report entries, the weight style of the demo, the Toolbox entries and their help (real QGIS, offscreen)."""
import os
import re
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from qgis.core import (
    QgsApplication,
    QgsGraduatedSymbolRenderer,
    QgsLinePatternFillSymbolLayer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingModelAlgorithm,
    QgsProcessingOutputLayerDefinition,
    QgsProject,
    QgsRenderContext,
    QgsSettings,
    QgsVectorLayer,
)

from tests.qgis.qt_helpers import wait_for

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "patch_balancer_chain.model3"
# Outside /tmp: QGIS treats any file in the system's temporary folder as a temporary layer (never named by file).
OUT = Path(os.environ.get("PATCH_BALANCER_TEST_OUTPUT", REPO / "test_output")) / "desktop_outputs"
PREFER_FILENAME = "Processing/Configuration/PREFER_FILENAME_AS_LAYER_NAME"
ALGORITHM_IDS = ("buildbalanceddataset", "createpatchgrid", "computeclasscomposition", "computevisualuniqueness",
                 "computesamplerweights")


@pytest.fixture
def out_dir(monkeypatch):
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*"):
        if old.is_file():
            old.unlink()
    # QGIS treats a file under the system temp folder as temporary and never names a layer after it; a checkout
    # under /tmp would put OUT there, so the temp folder is moved aside for these tests.
    elsewhere = OUT / "system_tmp"
    elsewhere.mkdir(exist_ok=True)
    monkeypatch.setenv("TMPDIR", str(elsewhere))
    return OUT


@pytest.fixture
def prefer_file_name():
    """Sets QGIS's 'Prefer output filename for layer names' for the test and puts the old value back."""
    settings = QgsSettings()
    old = settings.value(PREFER_FILENAME)

    def set_to(value: bool):
        # Processing keeps its own copy of its settings, read when it starts: set both, as its options page does
        from processing.core.ProcessingConfig import ProcessingConfig

        settings.setValue(PREFER_FILENAME, value)
        ProcessingConfig.setSettingValue(ProcessingConfig.PREFER_FILENAME_AS_LAYER_NAME, value)

    yield set_to
    set_to(True if old is None else old in (True, "true", "1"))
    if old is None:
        settings.remove(PREFER_FILENAME)
    QgsProject.instance().removeAllMapLayers()


def run_and_load(alg_id, params, output):
    """Run as the algorithm dialog does with 'Open output file after running': load the output, post-process it."""
    from processing.gui.Postprocessing import handleAlgorithmResults

    project = QgsProject.instance()
    context = QgsProcessingContext()
    context.setProject(project)
    feedback = QgsProcessingFeedback()
    alg = QgsApplication.processingRegistry().createAlgorithmById(f"patchbalancer:{alg_id}")
    params = dict(params, OUTPUT=QgsProcessingOutputLayerDefinition(output, project))
    results, ok = alg.run(params, context, feedback)
    assert ok, feedback.textLog()
    before = set(project.mapLayers())
    assert handleAlgorithmResults(alg, context, feedback, False, results)
    added = [project.mapLayer(i) for i in set(project.mapLayers()) - before]
    assert len(added) == 1
    return added[0], results


# --- the Graphical Modeler file ---------------------------------------------------------------------------------

def test_the_model_opens_valid_with_labelled_inputs_and_outputs(provider):
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODEL))
    ok, issues = model.validate()
    assert ok and not issues, issues  # before: 21 "Parameter X is mandatory" issues, every step red
    for param in model.parameterDefinitions():
        assert param.description().strip(), f"model parameter {param.name()} has no label"
    outputs = {p.name(): p.description() for p in model.destinationParameterDefinitions()}
    assert outputs == {f"weights:{name}": name for name in
                       ("Balanced patches", "Sampler CSV", "Balance report", "Loss class weights")}


def test_the_model_file_is_what_make_model_writes(provider):
    """A parameter added to a step without `make model` shows here, not as a red step in the user's Modeler."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from make_model import build_model
    finally:
        sys.path.remove(str(REPO / "scripts"))
    committed = QgsProcessingModelAlgorithm()
    assert committed.fromFile(str(MODEL))
    fresh = build_model()
    for child_id in ("grid", "composition", "uniqueness", "weights"):
        ours, theirs = fresh.childAlgorithm(child_id), committed.childAlgorithm(child_id)
        assert ours.algorithmId() == theirs.algorithmId()
        assert sorted(ours.parameterSources()) == sorted(theirs.parameterSources()), child_id
        for key, sources in ours.parameterSources().items():
            assert [s.toVariant() for s in sources] == [s.toVariant() for s in theirs.parameterSources()[key]], key


def test_the_model_runs(processing_run, data_dir, tmp_path):
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODEL))
    result = processing_run(model, {
        "images": [str(data_dir / "lyon/image_rgb.tif")], "masks": [str(data_dir / "lyon/labels.tif")],
        "patch_size": 128, "embedder": "descriptor", "max_oversampling": 5.0,
        "weights:Balanced patches": str(tmp_path / "model.gpkg"), "weights:Balance report": str(tmp_path / "r.html"),
        "weights:Sampler CSV": str(tmp_path / "s.csv"), "weights:Loss class weights": str(tmp_path / "l.json")})
    layer = QgsVectorLayer(result["weights:Balanced patches"], "model", "ogr")
    try:
        assert layer.isValid() and layer.featureCount() == 36
        weights = [f["sampler_weight"] for f in layer.getFeatures()]
        assert max(weights) > 1 and "uniqueness_score" in layer.fields().names()
    finally:
        del layer
    assert all((tmp_path / name).stat().st_size > 0 for name in ("r.html", "s.csv", "l.json"))


# --- output names -----------------------------------------------------------------------------------------------

def test_output_layers_take_the_file_name_when_qgis_prefers_it(provider, data_dir, out_dir, prefer_file_name):
    prefer_file_name(True)
    params = {"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"),
              "PATCH_SIZE": 128}
    first, _ = run_and_load("buildbalanceddataset", params, str(out_dir / "north_run.gpkg"))
    second, _ = run_and_load("buildbalanceddataset", params, str(out_dir / "south_run.gpkg"))
    assert (first.name(), second.name()) == ("north_run", "south_run")  # not "Balanced patches" twice
    # A temporary layer has no meaningful file name (QGIS uses the description): the input tells it apart.
    temp_a, _ = run_and_load("buildbalanceddataset", params, "TEMPORARY_OUTPUT")
    temp_b, _ = run_and_load("buildbalanceddataset", params, "TEMPORARY_OUTPUT")
    assert temp_a.name() == "Balanced patches — image_rgb" and temp_b.name() == "Balanced patches — image_rgb (2)"
    assert isinstance(second.renderer(), QgsGraduatedSymbolRenderer)  # naming did not cost the style


def test_output_layers_tell_runs_apart_when_file_names_are_not_wanted(provider, data_dir, out_dir, prefer_file_name):
    prefer_file_name(False)
    params = {"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"),
              "PATCH_SIZE": 128}
    first, _ = run_and_load("buildbalanceddataset", params, str(out_dir / "north_run.gpkg"))
    second, _ = run_and_load("buildbalanceddataset", params, str(out_dir / "south_run.gpkg"))
    assert (first.name(), second.name()) == ("Balanced patches — north_run", "Balanced patches — south_run")
    grid, _ = run_and_load("createpatchgrid", params, str(out_dir / "grid.gpkg"))
    composition, _ = run_and_load("computeclasscomposition", {"INPUT": grid}, "TEMPORARY_OUTPUT")
    assert (grid.name(), composition.name()) == ("Patch grid — grid", "Patches with composition — Patch grid — grid")


@pytest.mark.parametrize("prefer", [True, False])
def test_report_entries_in_the_results_viewer_tell_runs_apart(processing_run, data_dir, out_dir, prefer_file_name,
                                                              prefer):
    from processing.core.ProcessingResults import resultsList

    prefer_file_name(prefer)
    names = []
    for stem in ("north_report", "south_report"):
        report = str(out_dir / f"{stem}.html")
        alg = QgsApplication.processingRegistry().createAlgorithmById("patchbalancer:buildbalanceddataset")
        context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
        results, ok = alg.run({"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"),
                               "PATCH_SIZE": 128, "OUTPUT": "TEMPORARY_OUTPUT", "REPORT": report}, context, feedback)
        assert ok
        # what the algorithm dialog does right after the run: list the HTML output under its description
        resultsList.addResult(alg.icon(), "Balance report", time.localtime(), results["REPORT"])
        entry = resultsList.getResults()[-1]
        assert wait_for(lambda: entry.name != "Balance report", timeout=2)
        names.append(entry.name)
    expected = ["north_report", "south_report"] if prefer else [
        "Balance report — north_report", "Balance report — south_report"]
    assert names == expected


# --- the weight style --------------------------------------------------------------------------------------------

def test_the_demo_style_shows_every_weight_level_that_matters(demo_output):
    from patch_balancer.processing_provider.styling import EXCLUDED_LABEL, MAX_CLASSES, weight_levels

    layer = QgsVectorLayer(demo_output["gpkg"], "demo", "ogr")  # the default style stored in the GeoPackage
    try:
        renderer = layer.renderer()
        assert isinstance(renderer, QgsGraduatedSymbolRenderer) and renderer.classAttribute() == "sampler_weight"
        ranges = renderer.ranges()
        assert ranges[0].label() == EXCLUDED_LABEL and (ranges[0].lowerValue(), ranges[0].upperValue()) == (0, 0)
        features = list(layer.getFeatures())
        weights = np.array([f["sampler_weight"] for f in features])
        levels = weight_levels(weights)
        drawable_classes = len(ranges) - 1
        assert drawable_classes >= min(len(levels), MAX_CLASSES) and drawable_classes > 3  # was 2-3 (ties)
        # every class holds patches, and a class's label covers its patches' weights
        context = QgsRenderContext()
        renderer.startRender(context, layer.fields())
        try:
            keys = [renderer.legendKeysForFeature(f, context) for f in features]
        finally:
            renderer.stopRender(context)
        assert all(len(k) == 1 for k in keys)
        used = {next(iter(k)) for k in keys}
        assert len(used) == len(ranges)
        by_id = {f["patch_id"]: next(iter(k)) for f, k in zip(features, keys)}
        field = [f for f in features if not f["excluded"] and f["c_0"] == 1.0]
        building = [f for f in features if not f["excluded"] and f["c_2"] > 0.01]
        assert field and building
        assert {by_id[f["patch_id"]] for f in field}.isdisjoint({by_id[f["patch_id"]] for f in building})
        # opaque fills: what the map shows is what the legend shows, over any imagery
        for r in ranges[1:]:
            assert r.symbol().color().alpha() == 255 and r.symbol().opacity() == 1.0
            assert r.label().endswith("draws per epoch")
        excluded = ranges[0].symbol()
        assert any(isinstance(excluded.symbolLayer(i), QgsLinePatternFillSymbolLayer)
                   for i in range(excluded.symbolLayerCount()))
        assert excluded.symbolLayer(0).strokeWidth() >= 0.3  # a dark outline marks every excluded patch
    finally:
        del layer
    with sqlite3.connect(demo_output["gpkg"]) as db:
        (qml,) = db.execute("SELECT styleQML FROM layer_styles WHERE useAsDefault = 1").fetchone()
    assert qml.count("<range ") == len(ranges) and "LinePatternFill" in qml


def test_ties_never_merge_classes():
    """class_balance often gives a few levels with hundreds of patches each (pure background low, rare classes at
    the cap): each level is its own class, with its own colour."""
    from patch_balancer.processing_provider.styling import sampler_weight_renderer

    weights = np.array([0.0] * 20 + [0.25] * 300 + [1.7] * 40 + [5.0] * 12)
    ranges = sampler_weight_renderer(weights).ranges()
    assert [r.label() for r in ranges[1:]] == ["0.25 draws per epoch", "1.7 draws per epoch", "5 draws per epoch"]
    assert len({r.symbol().color().name() for r in ranges}) == 4


# --- the Toolbox: order, icons, tags, help --------------------------------------------------------------------------

def test_build_balanced_dataset_comes_first_in_the_toolbox(provider):
    from qgis.gui import QgsProcessingToolboxModel, QgsProcessingToolboxProxyModel

    proxy = QgsProcessingToolboxProxyModel(None, QgsApplication.processingRegistry())
    model = proxy.toolboxModel()
    root = proxy.mapFromSource(model.indexForProvider("patchbalancer"))
    order = []

    def walk(index):
        for row in range(proxy.rowCount(index)):
            child = proxy.index(row, 0, index)
            alg_id = proxy.data(child, QgsProcessingToolboxModel.RoleAlgorithmId)
            if alg_id:
                order.append(alg_id)
            walk(child)

    walk(root)
    assert order[0] == "patchbalancer:buildbalanceddataset", order
    steps = [a for a in order if a.split(":")[1] in ALGORITHM_IDS[1:]]
    assert steps == [f"patchbalancer:{a}" for a in ALGORITHM_IDS[1:]]  # 1 · … 4 · in order, together


def test_every_algorithm_has_an_icon_tags_a_help_link_and_user_words(provider):
    default_icon = QgsApplication.getThemeIcon("/processingAlgorithm.svg").pixmap(16, 16).toImage()
    for alg in provider.algorithms():
        assert os.path.isfile(alg.svgIconPath()), alg.id()
        assert alg.icon().pixmap(16, 16).toImage() != default_icon, alg.id()
        assert len(alg.tags()) >= 6, alg.id()
        assert re.match(r"https?://\S+#[a-z0-9-]+$", alg.helpUrl()), (alg.id(), alg.helpUrl())
        anchor = alg.helpUrl().split("#")[1]
        headings = re.findall(r"^#+ (.+)$", (REPO / "README.md").read_text(encoding="utf-8"), re.M)
        slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
        assert anchor in slugs, (alg.id(), anchor)
        texts = [alg.shortHelpString()] + [p.help() for p in alg.parameterDefinitions()]
        for text in texts:
            for word in ("reference", "seed", "dataset_explorer"):
                assert word not in text.lower(), (alg.id(), word, text[:120])


def test_an_empty_build_dialog_is_refused_before_the_run(provider):
    alg = QgsApplication.processingRegistry().createAlgorithmById("patchbalancer:buildbalanceddataset")
    ok, message = alg.checkParameterValues({"OUTPUT": "TEMPORARY_OUTPUT"}, QgsProcessingContext())
    assert not ok and "image" in message.lower() and "mask" in message.lower()
