"""Bad parameter values, through processing.run and each algorithm's checkParameterValues, in real QGIS.

checkParameterValues must answer (False, message) and never raise: an exception escaping a Python override
aborts qgis_process (SIGABRT). Messages name the parameter and say what would be accepted.
"""
import json
import os

import pytest
from qgis.core import (
    QgsApplication,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsVectorLayer,
)

BUILD = "patchbalancer:buildbalanceddataset"
PASSWORD = "s3cret-pw"


@pytest.fixture(scope="module")
def grid_layer(processing_run, data_dir, tmp_path_factory):
    """A patch grid of the Lyon scene with composition: the input of the steps."""
    folder = tmp_path_factory.mktemp("steps")
    grid = processing_run("patchbalancer:createpatchgrid", {
        "IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"), "PATCH_SIZE": 128,
        "OUTPUT": str(folder / "grid.gpkg")})
    composed = processing_run("patchbalancer:computeclasscomposition", {
        "INPUT": grid["OUTPUT"], "OUTPUT": str(folder / "composed.gpkg")})
    return composed["OUTPUT"]


@pytest.fixture
def inputs(data_dir, grid_layer):
    lyon = {"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif")}
    return {"buildbalanceddataset": lyon, "createpatchgrid": lyon, "computeclasscomposition": {"INPUT": grid_layer},
            "computevisualuniqueness": {"INPUT": grid_layer}, "computesamplerweights": {"INPUT": grid_layer}}


CASES = [  # (algorithm, parameters, message)
    ("buildbalanceddataset", {"BANDS": "a,b"}, "BANDS must be 1-based band numbers such as 4,3,2; got a,b"),
    ("buildbalanceddataset", {"BANDS": "0"}, "BANDS must be one band"),
    ("buildbalanceddataset", {"BANDS": "3,2"}, "BANDS must be one band"),
    ("buildbalanceddataset", {"MODE": 2, "EMBEDDER": "descriptor", "BANDS": "4,3,2"}, "asks for band 4, but the image"),
    ("buildbalanceddataset", {"PATCH_SIZE": 2**40}, r"(PATCH_SIZE) must be a whole number from 1 to 2147483647"),
    ("buildbalanceddataset", {"PATCH_SIZE": 64.5}, "(PATCH_SIZE) must be a whole number"),
    ("buildbalanceddataset", {"PATCH_SIZE": "sixty"}, "(PATCH_SIZE) must be a whole number"),
    ("buildbalanceddataset", {"STRIDE": -1}, "(STRIDE) must be a whole number from 0"),
    ("buildbalanceddataset", {"SEED": -1}, "(SEED) must be a whole number from 0 to 2147483647; got -1"),
    ("buildbalanceddataset", {"NODATA": 1e20}, "(NODATA) must be a whole number from -2147483648 to 2147483647"),
    ("buildbalanceddataset", {"BLACK_TOLERANCE": float("nan")}, "(BLACK_TOLERANCE) must be a number of at least 0"),
    ("buildbalanceddataset", {"BLACK_TOLERANCE": float("inf")}, "(BLACK_TOLERANCE) must be a number of at least 0"),
    ("buildbalanceddataset", {"MIN_ENTROPY": -0.5}, "(MIN_ENTROPY) must be a number of at least 0"),
    ("buildbalanceddataset", {"MAX_NODATA_RATIO": 1.5}, "(MAX_NODATA_RATIO) must be a number from 0 to 1"),
    ("buildbalanceddataset", {"K_MIN": 20}, "1 ≤ K min ≤ K max"),
    ("buildbalanceddataset", {"K": -2}, "(K) must be a whole number from 0"),
    ("buildbalanceddataset", {"MAX_OVERSAMPLING": 0.5}, "(MAX_OVERSAMPLING) must be a number of at least 1"),
    ("buildbalanceddataset", {"MODE": 7}, "(MODE) must be the number of one of its options: 0 = Masks only"),
    ("buildbalanceddataset", {"SAMPLING_METHOD": 99}, "(SAMPLING_METHOD) must be the number of one of its options"),
    ("buildbalanceddataset", {"PAIRING": 2}, "(PAIRING) must be the number of one of its options"),
    ("buildbalanceddataset", {"AOI_MODE": -1}, "(AOI_MODE) must be the number of one of its options"),
    ("buildbalanceddataset", {"DEVICE": 5}, "(DEVICE) must be the number of one of its options"),
    ("buildbalanceddataset", {"PRECISION": 5}, "(PRECISION) must be the number of one of its options"),
    ("buildbalanceddataset", {"KNN_BACKEND": 9}, "(KNN_BACKEND) must be the number of one of its options"),
    ("buildbalanceddataset", {"BATCH_SIZE": 0}, "(BATCH_SIZE) must be a whole number from 1"),
    ("buildbalanceddataset", {"K_NEIGHBORS": 2**31}, "(K_NEIGHBORS) must be a whole number from 1 to 2147483647"),
    ("buildbalanceddataset", {"EXCLUDE_BORDER_NODATA": "no"}, "(EXCLUDE_BORDER_NODATA) must be true or false"),
    ("buildbalanceddataset", {"MODE": 0, "SAMPLING_METHOD": 6}, "needs visual uniqueness"),
    ("buildbalanceddataset", {"MODE": 2, "EMBEDDER": "/no/such/model"}, "EMBEDDER: the model folder"),
    ("buildbalanceddataset", {"CLASS_MAP": "/no/such/classes.csv"}, "CLASS_MAP: Cannot read the class map"),
    ("createpatchgrid", {"PATCH_SIZE": 0}, "(PATCH_SIZE) must be a whole number from 1"),
    ("createpatchgrid", {"STRIDE": 2**33}, "(STRIDE) must be a whole number from 0 to 2147483647"),
    ("createpatchgrid", {"AOI_MODE": 3}, "(AOI_MODE) must be the number of one of its options"),
    ("computeclasscomposition", {"NODATA": -1e12}, "(NODATA) must be a whole number"),
    ("computeclasscomposition", {"MAX_NODATA_RATIO": -0.1}, "(MAX_NODATA_RATIO) must be a number from 0 to 1"),
    ("computeclasscomposition", {"CLASS_MAP": "/no/such/classes.csv"}, "CLASS_MAP: Cannot read the class map"),
    ("computevisualuniqueness", {"BANDS": "1;x"}, "BANDS must be 1-based band numbers"),
    ("computevisualuniqueness", {"K_NEIGHBORS": 0}, "(K_NEIGHBORS) must be a whole number from 1"),
    ("computevisualuniqueness", {"EMBEDDER": "./missing-model"}, "EMBEDDER: the model folder"),
    ("computevisualuniqueness", {"KNN_BACKEND": 17}, "(KNN_BACKEND) must be the number of one of its options"),
    ("computesamplerweights", {"SEED": -5}, "(SEED) must be a whole number from 0"),
    ("computesamplerweights", {"K_MAX": 0}, "(K_MAX) must be a whole number from 1"),
    ("computesamplerweights", {"MAX_OVERSAMPLING": float("nan")}, "(MAX_OVERSAMPLING) must be a number of at least 1"),
    ("computesamplerweights", {"SAMPLING_METHOD": 12}, "(SAMPLING_METHOD) must be the number of one of its options"),
]


def _id(case):
    return f"{case[0]}-{'-'.join(f'{k}={v}' for k, v in case[1].items())}"


@pytest.mark.parametrize("alg, params, message", CASES, ids=[_id(c) for c in CASES])
def test_check_answers_with_the_parameter_instead_of_raising(provider, inputs, tmp_path, alg, params, message):
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(f"patchbalancer:{alg}")
    values = {**inputs[alg], **params, "OUTPUT": str(tmp_path / "out.gpkg")}
    ok, text = algorithm.checkParameterValues(values, QgsProcessingContext())  # a raise here aborts qgis_process
    assert not ok
    assert message in text


@pytest.mark.parametrize("alg, params, message", CASES[::4], ids=[_id(c) for c in CASES[::4]])
def test_processing_run_refuses_before_any_work(processing_run, inputs, tmp_path, alg, params, message):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(QgsProcessingException) as info:
        processing_run(f"patchbalancer:{alg}", {**inputs[alg], **params, "OUTPUT": str(out / "x.gpkg")},
                       feedback=QgsProcessingFeedback())
    assert message in str(info.value)
    assert os.listdir(out) == []


def test_an_unexpected_error_in_the_check_is_reported_not_raised(provider, inputs, monkeypatch):
    from patch_balancer.processing_provider import parameters

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(parameters, "read_config", broken)
    for alg in inputs:
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(f"patchbalancer:{alg}")
        ok, text = algorithm.checkParameterValues({**inputs[alg], "OUTPUT": "TEMPORARY_OUTPUT"}, QgsProcessingContext())
        assert not ok and "could not check the parameters (RuntimeError: boom)" in text, alg


def test_good_values_pass_the_check(provider, inputs, tmp_path):
    for alg, values in inputs.items():
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(f"patchbalancer:{alg}")
        extra = {"EMBEDDER": "descriptor", "BANDS": "3,2,1", "SEED": 0} if "uniqueness" in alg else {"SEED": 0}
        if alg in ("buildbalanceddataset", "computeclasscomposition"):  # texts QGIS reads right
            extra.update(EXCLUDE_BLACK_BORDER="False", IGNORE_BAND_NODATA="1")
        ok, text = algorithm.checkParameterValues({**values, **extra, "OUTPUT": str(tmp_path / f"{alg}.gpkg")},
                                                  QgsProcessingContext())
        assert ok, (alg, text)


def test_a_negative_seed_no_longer_reaches_scikit_learn(processing_run, inputs, tmp_path):
    with pytest.raises(QgsProcessingException, match="SEED") as info:
        processing_run(BUILD, {**inputs["buildbalanceddataset"], "SEED": -1, "OUTPUT": str(tmp_path / "x.gpkg")})
    assert "random_state" not in str(info.value)


# --- passwords ---------------------------------------------------------------------------------

@pytest.mark.parametrize("uri", [
    f"postgresraster: dbname='gis' host=127.0.0.1 port=1 user='analyst' password='{PASSWORD}' "
    "table=\"public\".\"labels\" (rast)",
    f"PG: dbname='gis' host=127.0.0.1 port=1 user='analyst' password={PASSWORD} table=labels",
])
def test_a_password_in_a_raster_uri_is_masked(processing_run, data_dir, tmp_path, uri):
    feedback = Collecting()
    with pytest.raises(QgsProcessingException) as info:
        processing_run(BUILD, {"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": uri,
                               "OUTPUT": str(tmp_path / "x.gpkg")}, feedback=feedback)
    text = str(info.value) + "\n".join(feedback.lines)
    assert "MASK" in str(info.value) and "***" in str(info.value)
    assert PASSWORD not in text


class Collecting(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.lines = []

    def reportError(self, error, fatalError=False):  # noqa: N802 (Qt)
        self.lines.append(error)

    def pushWarning(self, warning):  # noqa: N802 (Qt)
        self.lines.append(warning)

    def pushInfo(self, info):  # noqa: N802 (Qt)
        self.lines.append(info)


# --- class maps and stored legends --------------------------------------------------------------

def test_a_latin1_class_map_names_the_classes_with_a_warning(processing_run, inputs, tmp_path):
    class_map = tmp_path / "classes.csv"
    class_map.write_bytes("value,name,colour\n0,fond,#d9d9d9\n1,bâti,#e31a1c\n2,végétation,#33a02c\n"
                          .encode("latin-1"))
    feedback = Collecting()
    result = processing_run(BUILD, {**inputs["buildbalanceddataset"], "PATCH_SIZE": 128, "CLASS_MAP": str(class_map),
                                    "OUTPUT": str(tmp_path / "x.gpkg"), "REPORT": str(tmp_path / "r.html")},
                            feedback=feedback)
    assert any("not UTF-8" in line for line in feedback.lines)
    layer = QgsVectorLayer(result["OUTPUT"], "x", "ogr")
    try:
        assert layer.fields().field("c_2").alias() == "végétation"
    finally:
        del layer
    assert "végétation" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_markup_in_a_stored_legend_never_reaches_the_report(processing_run, grid_layer, tmp_path):
    from patch_balancer.processing_provider.styling import LEGEND_PROPERTY

    layer = QgsVectorLayer(grid_layer, "patches", "ogr")
    try:
        layer.setCustomProperty(LEGEND_PROPERTY, json.dumps([
            {"value": 0, "name": "<script>alert('name')</script>", "colour": "#123456"},
            {"value": 1, "name": "building", "colour": "red'><script>alert('colour')</script>"},
            {"value": 2, "name": "park", "colour": "#00ff00\" onmouseover=\"alert(1)"}]))
        report = tmp_path / "report.html"
        processing_run("patchbalancer:computesamplerweights", {"INPUT": layer, "OUTPUT": "TEMPORARY_OUTPUT",
                                                                "REPORT": str(report)})
    finally:
        del layer
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html and "onmouseover" not in html
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in html  # the name is shown, as text
    assert "#123456" in html
