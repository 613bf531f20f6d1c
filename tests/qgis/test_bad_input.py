"""Bad input and cancellation: a precise QgsProcessingException and no partial output."""
import os

import numpy as np
import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback

from tests.qgis.qt_helpers import CancelAfter

ALG = "patchbalancer:buildbalanceddataset"


@pytest.fixture
def image(write_raster):
    return write_raster("image.tif", np.full((3, 64, 64), 100, np.uint8))


@pytest.fixture
def outputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    return dict(OUTPUT=str(out / "patches.gpkg"), OUTPUT_CSV=str(out / "patches.csv")), out


def truncated(write_raster):
    path = write_raster("cut.tif", np.random.default_rng(0).integers(0, 3, (64, 64)).astype(np.uint8))
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) - 2000)
    return path


CASES = {
    "crs": (lambda w: w("m.tif", np.zeros((64, 64), np.uint8), crs="EPSG:4326"), {}, "different CRS"),
    "size": (lambda w: w("m.tif", np.zeros((60, 64), np.uint8)), {}, "image is 64×64 px, mask is 64×60 px"),
    "origin": (lambda w: w("m.tif", np.zeros((64, 64), np.uint8), origin=(500010.0, 4500000.0)), {}, "mask origin"),
    "pixel": (lambda w: w("m.tif", np.zeros((64, 64), np.uint8), pixel=0.5), {}, "pixel size"),
    "float": (lambda w: w("m.tif", np.zeros((64, 64), np.float32)), {}, "class labels must be integers"),
    "too_big": (lambda w: w("m.tif", np.zeros((64, 64), np.uint8)), {"PATCH_SIZE": 128}, "larger than the raster"),
    "all_excluded": (lambda w: w("m.tif", np.zeros((64, 64), np.uint8), nodata=0), {"PATCH_SIZE": 32},
                     "All 4 patches are excluded"),
    "truncated": (truncated, {"PATCH_SIZE": 16}, "truncated or corrupt"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_named_and_leaves_nothing(processing_run, write_raster, image, outputs, case):
    make_mask, extra, message = CASES[case]
    params, folder = outputs
    with pytest.raises(QgsProcessingException, match=message):
        processing_run(ALG, {"IMAGE": image, "MASK": make_mask(write_raster), "PATCH_SIZE": 16, **extra, **params},
                       feedback=QgsProcessingFeedback())
    assert os.listdir(folder) == []


def test_unreadable_raster_is_refused(processing_run, image, tmp_path, outputs):
    bogus = tmp_path / "bogus.tif"
    bogus.write_text("not a raster")
    params, folder = outputs
    with pytest.raises(QgsProcessingException, match="MASK"):
        processing_run(ALG, {"IMAGE": image, "MASK": str(bogus), **params}, feedback=QgsProcessingFeedback())
    assert os.listdir(folder) == []


def test_existing_outputs_survive_a_failed_run(processing_run, write_raster, image, outputs):
    params, folder = outputs
    for path in params.values():
        with open(path, "w") as fh:
            fh.write("precious")
    with pytest.raises(QgsProcessingException):
        processing_run(ALG, {"IMAGE": image, "MASK": write_raster("m.tif", np.zeros((64, 64), np.float32)), **params},
                       feedback=QgsProcessingFeedback())
    assert all(open(p).read() == "precious" for p in params.values())



@pytest.mark.parametrize("after", [1, 20])
def test_cancel_raises_and_leaves_no_partial_file(processing_run, data_dir, outputs, after):
    params, folder = outputs
    feedback = CancelAfter(after)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing_run(ALG, {"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"),
                             "PATCH_SIZE": 16, **params}, feedback=feedback)
    assert feedback.isCanceled()
    assert os.listdir(folder) == []


def test_cancel_while_writing_the_layer_removes_it(processing_run, data_dir, outputs):
    params, folder = outputs
    inputs = {"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"),
              "PATCH_SIZE": 16, "K": 4}  # 2304 patches: two write batches
    counter = CancelAfter(10**9)
    processing_run(ALG, {**inputs, "OUTPUT": "TEMPORARY_OUTPUT"}, feedback=counter)
    feedback = CancelAfter(counter.calls - 1)  # the first write batch is the second-to-last report
    with pytest.raises(QgsProcessingException, match="while writing the patch layer"):
        processing_run(ALG, {**inputs, **params}, feedback=feedback)
    assert os.listdir(folder) == []
