"""Honest data through processing.run: image nodata, swapped inputs, edited patch layers, rasters without
georeferencing, as a QGIS user meets them."""
import warnings

import numpy as np
import pytest
import rasterio
from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer, QgsVectorLayer
from rasterio.errors import NotGeoreferencedWarning


def alg(name):
    return f"patchbalancer:{name}"


class Recorder(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.warnings = []

    def pushWarning(self, warning):  # noqa: N802 (Qt)
        self.warnings.append(warning)
        super().pushWarning(warning)


def test_image_nodata_parameter_is_declared_with_help(provider):
    for name in ("computeclasscomposition", "buildbalanceddataset"):
        definition = QgsApplication.processingRegistry().algorithmById(alg(name)).parameterDefinition("EXCLUDE_IMAGE_NODATA")
        assert definition is not None and definition.defaultValue() is True and "NaN" in definition.help()


@pytest.mark.parametrize("exclude", [True, False])
def test_a_nan_collar_is_excluded_not_the_most_unique(processing_run, write_raster, tmp_path, exclude):
    image = np.random.default_rng(0).uniform(10, 200, (3, 64, 64)).astype(np.float32)
    image[:, :, 48:] = np.nan  # the collar: the last column of 16 px patches
    result = processing_run(alg("buildbalanceddataset"), {
        "IMAGE": write_raster("image.tif", image), "MASK": write_raster("mask.tif", np.ones((64, 64), np.uint8)),
        "PATCH_SIZE": 16, "MODE": 1, "EMBEDDER": "descriptor", "K_NEIGHBORS": 3, "EXCLUDE_IMAGE_NODATA": exclude,
        "OUTPUT": str(tmp_path / "out.gpkg")})
    layer = QgsVectorLayer(result["OUTPUT"], "patches", "ogr")
    rows = [(f["col_off"], f["excl_image_nodata"], f["excluded"], f["uniqueness_score"], f["sampler_weight"])
            for f in layer.getFeatures()]
    del layer
    collar = [r for r in rows if r[0] == 48]
    inside = [r for r in rows if r[0] != 48]
    assert len(collar) == 4 and len(inside) == 12
    if exclude:
        assert all(r[1] == 1 and r[2] == 1 and r[4] == 0 for r in collar)
        assert all(r[1] == 0 and 0 <= r[3] < 1 for r in inside)
    else:  # the collar is embedded as black: a finite score, never NaN's 1.0
        assert all(r[1] == 0 and r[2] == 0 and 0 <= r[3] < 1 for r in rows)


def test_swapped_image_and_mask_are_named_in_the_log(processing_run, data_dir):
    feedback = Recorder()
    processing_run(alg("createpatchgrid"), {"IMAGE": str(data_dir / "lyon/labels.tif"),
                                            "MASK": str(data_dir / "lyon/image_rgb.tif"), "PATCH_SIZE": 256,
                                            "OUTPUT": "TEMPORARY_OUTPUT"}, feedback=feedback)
    assert any("were image and mask swapped?" in w and "image_rgb.tif" in w for w in feedback.warnings)


@pytest.fixture
def composed_layer(processing_run, data_dir, tmp_path):
    grid = processing_run(alg("createpatchgrid"), {"IMAGE": str(data_dir / "lyon/image_rgb.tif"),
                                                   "MASK": str(data_dir / "lyon/labels.tif"), "PATCH_SIZE": 128,
                                                   "OUTPUT": str(tmp_path / "g.gpkg")})
    return processing_run(alg("computeclasscomposition"), {"INPUT": grid["OUTPUT"],
                                                           "OUTPUT": str(tmp_path / "c.gpkg")})["OUTPUT"]


def _edit(path, edits):
    """Change attributes as an analyst would in QGIS: {patch_id: {field: value}}; returns None (layer released)."""
    layer = QgsVectorLayer(path, "c", "ogr")
    layer.startEditing()
    for patch_id, values in edits.items():
        feature = next(layer.getFeatures(f"patch_id = {patch_id}"))
        for field, value in values.items():
            assert layer.changeAttributeValue(feature.id(), layer.fields().indexOf(field), value)
    assert layer.commitChanges()
    del layer


@pytest.mark.parametrize("edits, message", [
    ({3: {"patch_id": 7}, 4: {"patch_id": 9}}, r"2 id\(s\) appear more than once \(patches 7, 9; 4 rows\)"),
    ({10: {"col_off": 700}}, r"Patch 10 \(row_off 128, col_off 700, size 128\) reaches outside .*\(768×768 px\)"),
    ({2: {"c_0": 1.7}}, r"between 0 and 1: c_0 is 1\.7 for patch 2"),
])
def test_step_4_refuses_an_edited_layer_naming_the_patches(processing_run, composed_layer, edits, message):
    _edit(composed_layer, edits)
    with pytest.raises(QgsProcessingException, match=message):
        processing_run(alg("computesamplerweights"), {"INPUT": composed_layer, "OUTPUT": "TEMPORARY_OUTPUT"})


def test_step_4_refuses_a_layer_with_a_deleted_class_field(processing_run, composed_layer):
    layer = QgsVectorLayer(composed_layer, "c", "ogr")
    layer.startEditing()
    assert layer.deleteAttribute(layer.fields().indexOf("c_1")) and layer.commitChanges()
    del layer
    with pytest.raises(QgsProcessingException, match=r"do not sum to 1 .*c_<value> field may have been deleted"):
        processing_run(alg("computesamplerweights"), {"INPUT": composed_layer, "OUTPUT": "TEMPORARY_OUTPUT"})


def test_step_4_only_warns_when_a_raster_is_gone(processing_run, composed_layer, tmp_path):
    _edit(composed_layer, {pid: {"image_path": str(tmp_path / "moved.tif")} for pid in range(36)})
    feedback = Recorder()
    result = processing_run(alg("computesamplerweights"), {"INPUT": composed_layer, "OUTPUT": "TEMPORARY_OUTPUT"},
                            feedback=feedback)
    assert result["PATCH_COUNT"] == 36
    assert any("moved.tif': no such file" in w for w in feedback.warnings)


def test_footprints_of_a_raster_without_georeferencing_cover_it_as_qgis_draws_it(processing_run, tmp_path):
    paths = []
    for name, array in (("image.tif", np.full((3, 96, 128), 90, np.uint8)), ("mask.tif", np.ones((1, 96, 128), np.uint8))):
        path = str(tmp_path / name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path, "w", driver="GTiff", width=128, height=96, count=array.shape[0],
                               dtype="uint8") as dst:
                dst.write(array)
        paths.append(path)
    result = processing_run(alg("createpatchgrid"), {"IMAGE": paths[0], "MASK": paths[1], "PATCH_SIZE": 32,
                                                     "OUTPUT": str(tmp_path / "grid.gpkg")})
    raster = QgsRasterLayer(paths[0], "image")
    grid = QgsVectorLayer(result["OUTPUT"], "grid", "ogr")
    drawn, covered = raster.extent(), grid.extent()
    first = next(grid.getFeatures("patch_id = 0")).geometry().boundingBox()
    del grid, raster
    assert covered.toString() == drawn.toString()  # x 0..128, y −96..0: where QGIS draws the raster
    assert (first.xMinimum(), first.yMaximum(), first.yMinimum()) == (0, 0, -32)  # patch 0 at its top-left corner
