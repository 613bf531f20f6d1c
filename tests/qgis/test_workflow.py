"""The toolbox workflow in real QGIS: the step chain, the Modeler, batches of raster pairs, class names,
the area of interest, the report and other vector sources."""
import re
from pathlib import Path

import numpy as np
import pytest
from qgis.core import (
    QgsApplication,
    QgsFeature,
    QgsGeometry,
    QgsPalettedRasterRenderer,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingModelAlgorithm,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "patch_balancer_chain.model3"


def alg(name):
    return f"patchbalancer:{name}"


def weights_by_id(layer_or_path):
    layer = layer_or_path if isinstance(layer_or_path, QgsVectorLayer) else QgsVectorLayer(str(layer_or_path), "p", "ogr")
    rows = sorted((f["patch_id"], f["sampler_weight"]) for f in layer.getFeatures())
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=float)


@pytest.fixture
def tiles(lyon_tiles):
    images, masks = lyon_tiles
    return sorted(str(p) for p in images.iterdir()), sorted(str(p) for p in masks.iterdir())


def run_chain(processing_run, tmp_path, inputs, **settings):
    feedback = QgsProcessingFeedback()
    grid = processing_run(alg("createpatchgrid"), {**inputs, "PATCH_SIZE": 64, "OUTPUT": str(tmp_path / "g.gpkg")}, feedback=feedback)
    comp = processing_run(alg("computeclasscomposition"), {"INPUT": grid["OUTPUT"], "OUTPUT": str(tmp_path / "c.gpkg")}, feedback=feedback)
    uniq = processing_run(alg("computevisualuniqueness"), {"INPUT": comp["OUTPUT"], "EMBEDDER": "descriptor",
                                                           "OUTPUT": str(tmp_path / "u.gpkg")}, feedback=feedback)
    return processing_run(alg("computesamplerweights"), {"INPUT": uniq["OUTPUT"], **settings,
                                                         "OUTPUT": str(tmp_path / "w.gpkg")}, feedback=feedback)


def test_step_chain_equals_the_one_shot(processing_run, tiles, tmp_path):
    images, masks = tiles
    settings = {"SAMPLING_METHOD": 3, "MAX_OVERSAMPLING": 4.0}  # rank_add over both signals, capped
    chained = run_chain(processing_run, tmp_path, {"IMAGE": images, "MASK": masks}, **settings)
    one_shot = processing_run(alg("buildbalanceddataset"), {
        "IMAGE": images, "MASK": masks, "PATCH_SIZE": 64, "MODE": 2, "EMBEDDER": "descriptor", **settings,
        "OUTPUT": str(tmp_path / "one.gpkg")})
    ids_a, w_a = weights_by_id(chained["OUTPUT"])
    ids_b, w_b = weights_by_id(one_shot["OUTPUT"])
    assert ids_a.tolist() == ids_b.tolist() == list(range(144))
    np.testing.assert_allclose(w_a, w_b, rtol=1e-12)
    assert chained["CLUSTER_COUNT"] == one_shot["CLUSTER_COUNT"] and w_a.max() <= 4.0 * w_a.mean() + 1e-9


def test_model3_chains_the_four_steps(processing_run, tiles, tmp_path):
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODEL))
    assert [model.childAlgorithm(c).algorithmId() for c in ("grid", "composition", "uniqueness", "weights")] == [
        alg("createpatchgrid"), alg("computeclasscomposition"), alg("computevisualuniqueness"), alg("computesamplerweights")]
    images, masks = tiles
    out = tmp_path / "model.gpkg"
    result = processing_run(model, {"images": images, "masks": masks, "patch_size": 64, "embedder": "descriptor",
                                    "max_oversampling": 3.0, "weights:Balanced patches": str(out),
                                    "weights:Balance report": str(tmp_path / "report.html")})
    ids, weights = weights_by_id(out)
    assert len(ids) == 144 and (weights >= 0).all() and weights.max() <= 3.0 * weights.mean() + 1e-9
    assert Path(result["weights:Balance report"]).is_file()


def test_batch_of_pairs_by_name_and_by_order(processing_run, tiles, tmp_path):
    images, masks = tiles
    by_name = processing_run(alg("createpatchgrid"), {"IMAGE": images[::-1], "MASK": masks, "PATCH_SIZE": 128,
                                                      "OUTPUT": "TEMPORARY_OUTPUT"})
    pairs = {(f["image_path"], f["mask_path"]) for f in by_name["OUTPUT"].getFeatures()}
    assert len(pairs) == 4 and all(Path(i).name[:8] == Path(m).name[:8] for i, m in pairs)
    assert sorted(f["patch_id"] for f in by_name["OUTPUT"].getFeatures()) == list(range(36))
    by_order = processing_run(alg("createpatchgrid"), {"IMAGE": images, "MASK": masks, "PAIRING": 1, "PATCH_SIZE": 128,
                                                       "OUTPUT": "TEMPORARY_OUTPUT"})
    assert by_order["PAIR_COUNT"] == 4


@pytest.mark.parametrize("params, message", [
    (lambda i, m: {"IMAGE": i, "MASK": m[:3]}, r"no mask for image\(s\) tile_1_1_rgb\.tif"),
    (lambda i, m: {"IMAGE": i, "MASK": m[:3], "PAIRING": 1}, "4 image.*3 mask"),
    (lambda i, m: {"IMAGE": i}, "Give the image raster"),
    (lambda i, m: {"IMAGE": i[:3] + ["/nowhere/tile_1_1_rgb.tif"], "MASK": m}, r"1 of 4 image raster\(s\) \(IMAGE\) could not be loaded: /nowhere"),
    (lambda i, m: {"IMAGE_FOLDER": str(Path(i[0]).parent)}, "both an image folder and a mask folder"),
])
def test_pairing_errors_are_clear(processing_run, tiles, tmp_path, params, message):
    with pytest.raises(QgsProcessingException, match=message):
        processing_run(alg("buildbalanceddataset"), {**params(*tiles), "PATCH_SIZE": 64, "OUTPUT": str(tmp_path / "x.gpkg")})
    assert not (tmp_path / "x.gpkg").exists()


def test_class_names_from_a_paletted_mask_reach_aliases_report_and_later_steps(processing_run, data_dir, tmp_path):
    mask = QgsRasterLayer(str(data_dir / "lyon/labels.tif"), "labels")
    classes = [QgsPalettedRasterRenderer.Class(0, QColor("#d9d9d9"), "background"),
               QgsPalettedRasterRenderer.Class(1, QColor("#e31a1c"), "building"),
               QgsPalettedRasterRenderer.Class(2, QColor("#33a02c"), "park")]
    mask.setRenderer(QgsPalettedRasterRenderer(mask.dataProvider(), 1, classes))
    report = tmp_path / "report.html"
    result = processing_run(alg("buildbalanceddataset"), {
        "IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": [mask], "PATCH_SIZE": 64,
        "OUTPUT": str(tmp_path / "p.gpkg"), "REPORT": str(report)})
    layer = QgsVectorLayer(result["OUTPUT"], "p", "ogr")  # opens with its stored default style
    fields = layer.fields()
    assert [fields.field(n).alias() for n in ("c_0", "c_1", "c_2")] == ["background", "building", "park"]
    text = report.read_text()
    assert "building" in text and "#e31a1c" in text and "park" in text
    # A later step finds the names in the layer it reads (no mask layer, no class map given).
    again = processing_run(alg("computesamplerweights"), {"INPUT": result["OUTPUT"], "OUTPUT": str(tmp_path / "w.gpkg"),
                                                          "REPORT": str(tmp_path / "r2.html")})
    assert QgsVectorLayer(again["OUTPUT"], "w", "ogr").fields().field("c_1").alias() == "building"
    assert "#33a02c" in (tmp_path / "r2.html").read_text()


def test_class_map_file_wins(processing_run, data_dir, tmp_path):
    class_map = tmp_path / "classes.csv"
    class_map.write_text("value,name,colour\n1,Bâtiment,#ff00ff\n")
    result = processing_run(alg("buildbalanceddataset"), {
        "IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"), "PATCH_SIZE": 128,
        "CLASS_MAP": str(class_map), "OUTPUT": "TEMPORARY_OUTPUT"})
    assert result["OUTPUT"].fields().field("c_1").alias() == "Bâtiment"


def test_report_numbers_match_the_layer(processing_run, data_dir, tmp_path):
    report = tmp_path / "r.html"
    result = processing_run(alg("buildbalanceddataset"), {
        "IMAGE": str(data_dir / "atlanta/image_pan.tif"), "MASK": str(data_dir / "atlanta/labels.tif"),
        "PATCH_SIZE": 64, "MAX_OVERSAMPLING": 5.0, "OUTPUT": str(tmp_path / "a.gpkg"), "REPORT": str(report)})
    layer = QgsVectorLayer(result["OUTPUT"], "a", "ogr")
    feats = list(layer.getFeatures())
    w = np.array([f["sampler_weight"] for f in feats])
    labelled = np.array([64 * 64 * (1 - f["nodata_ratio"]) for f in feats])
    c1 = np.array([f["c_1"] for f in feats]) * labelled
    assert result["EFFECTIVE_SAMPLE_SIZE"] == pytest.approx(w.sum() ** 2 / (w ** 2).sum())
    assert result["MAX_OVERSAMPLING"] == pytest.approx(w.max() / w.mean()) and w.max() / w.mean() <= 5 + 1e-9
    text = report.read_text()
    raw, weighted = c1.sum() / labelled.sum(), (c1 * w).sum() / (labelled * w).sum()
    row = re.search(r"<td>1</td><td>([\d.]+)%</td><td>[\d.]+%</td><td>([\d.]+)%</td><td>(\d+)</td>", text)  # raw, target, drawn
    assert float(row.group(1)) == pytest.approx(100 * raw, abs=0.006)
    assert float(row.group(2)) == pytest.approx(100 * weighted, abs=0.006)
    assert int(row.group(3)) == int((c1 > 0).sum())
    assert f'id="ess">{w.sum() ** 2 / (w ** 2).sum():.1f}<' in text


def test_area_of_interest(processing_run, data_dir):
    raster = QgsRasterLayer(str(data_dir / "lyon/image_rgb.tif"), "img")
    e = raster.extent()
    aoi = QgsVectorLayer("Polygon?crs=EPSG:3946", "aoi", "memory")
    feature = QgsFeature()
    half = QgsRectangle(e.xMinimum(), e.yMinimum(), e.center().x() + 1.0, e.yMaximum())  # just past the middle
    feature.setGeometry(QgsGeometry.fromRect(half))
    aoi.dataProvider().addFeatures([feature])
    base = {"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"),
            "PATCH_SIZE": 128, "AOI": aoi, "OUTPUT": "TEMPORARY_OUTPUT"}
    intersecting = processing_run(alg("createpatchgrid"), base)
    inside = processing_run(alg("createpatchgrid"), {**base, "AOI_MODE": 1})
    assert intersecting["PATCH_COUNT"] == 6 * 4 and inside["PATCH_COUNT"] == 6 * 3
    one_shot = processing_run(alg("buildbalanceddataset"), {**base, "AOI_MODE": 1})
    assert one_shot["PATCH_COUNT"] == 18


def test_weights_from_a_dataset_explorer_style_table(processing_run):
    """Any vector source with a class_dist_json column (as the reference's dataset_explorer tables) works."""
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326&field=id:integer&field=class_dist_json:string&field=nodata_ratio:double"
                           "&field=split:string", "tiles", "memory")
    dists = ['{"0": 1.0}'] * 6 + ['{"0": 0.7, "3": 0.3}'] * 2
    features = []
    for i, dist in enumerate(dists):
        f = QgsFeature(layer.fields())
        f.setAttributes([i, dist, 0.0, "train"])
        f.setGeometry(QgsGeometry.fromRect(QgsRectangle(i, 0, i + 1, 1)))
        features.append(f)
    layer.dataProvider().addFeatures(features)
    result = processing_run(alg("computesamplerweights"), {"INPUT": layer, "K": 2, "OUTPUT": "TEMPORARY_OUTPUT"})
    out = result["OUTPUT"]
    w = [f["sampler_weight"] for f in out.getFeatures()]
    assert w[7] > w[0] > 0 and [f["split"] for f in out.getFeatures()] == ["train"] * 8  # extra fields carried
    assert "c_3" in out.fields().names()


def test_a_password_in_a_data_source_never_reaches_the_message(processing_run):
    source = "dbname='tiles' host=localhost port=1 user='me' password='s3cret' table=\"public\".\"tiles\" (geom)"
    with pytest.raises(QgsProcessingException) as caught:
        processing_run(alg("computesamplerweights"), {"INPUT": f"postgres://{source}", "OUTPUT": "TEMPORARY_OUTPUT"})
    assert "s3cret" not in str(caught.value)


def test_manual_exclusion_and_missing_signal(processing_run, data_dir, tmp_path):
    comp = processing_run(alg("computeclasscomposition"), {
        "INPUT": processing_run(alg("createpatchgrid"), {
            "IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"),
            "PATCH_SIZE": 128, "OUTPUT": str(tmp_path / "g.gpkg")})["OUTPUT"],
        "OUTPUT": str(tmp_path / "c.gpkg")})
    with pytest.raises(QgsProcessingException, match="needs what 'Compute visual uniqueness' adds"):
        processing_run(alg("computesamplerweights"), {"INPUT": comp["OUTPUT"], "SAMPLING_METHOD": 6,
                                                      "OUTPUT": "TEMPORARY_OUTPUT"})
    layer = QgsVectorLayer(comp["OUTPUT"], "c", "ogr")  # edited as an analyst would, then handed on
    layer.startEditing()
    layer.changeAttributeValue(next(layer.getFeatures("patch_id = 5")).id(), layer.fields().indexOf("excluded"), 1)
    assert layer.commitChanges()
    result = processing_run(alg("computesamplerweights"), {"INPUT": layer, "OUTPUT": "TEMPORARY_OUTPUT"})
    weights = {f["patch_id"]: f["sampler_weight"] for f in result["OUTPUT"].getFeatures()}
    del layer  # a layer must not outlive QGIS's exit
    assert weights[5] == 0 and result["EXCLUDED_COUNT"] == 1


def test_every_algorithm_returns_every_declared_output(processing_run, data_dir):
    registry = QgsApplication.processingRegistry()
    result = processing_run(alg("createpatchgrid"), {"IMAGE": str(data_dir / "lyon/image_rgb.tif"),
                                                     "MASK": str(data_dir / "lyon/labels.tif"), "PATCH_SIZE": 256,
                                                     "OUTPUT": "TEMPORARY_OUTPUT"})
    declared = {o.name() for o in registry.algorithmById(alg("createpatchgrid")).outputDefinitions()}
    assert set(result) == declared
