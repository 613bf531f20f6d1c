"""Build balanced dataset through processing.run, in real QGIS, on real GeoTIFFs."""
import csv
import sqlite3

import numpy as np
import pytest
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsGraduatedSymbolRenderer,
    QgsProcessingFeedback,
    QgsVectorLayer,
)

ALG = "patchbalancer:buildbalanceddataset"


@pytest.fixture
def run(processing_run):
    def run_alg(params, feedback=None):
        return processing_run(ALG, params, feedback=feedback or QgsProcessingFeedback())

    return run_alg


@pytest.fixture
def lyon(data_dir):
    return dict(IMAGE=str(data_dir / "lyon/image_rgb.tif"), MASK=str(data_dir / "lyon/labels.tif"), PATCH_SIZE=64)


def test_writes_styled_geopackage_and_csv(run, lyon, tmp_path):
    gpkg, csv_path = str(tmp_path / "patches.gpkg"), str(tmp_path / "patches.csv")
    result = run({**lyon, "OUTPUT": gpkg, "OUTPUT_CSV": csv_path})
    assert result["OUTPUT"] == gpkg and result["OUTPUT_CSV"] == csv_path
    assert result["PATCH_COUNT"] == 144 and result["EXCLUDED_COUNT"] == 0 and result["CLUSTER_COUNT"] >= 2

    layer = QgsVectorLayer(gpkg, "patches", "ogr")
    assert layer.isValid() and layer.featureCount() == 144
    assert layer.crs() == QgsCoordinateReferenceSystem("EPSG:3946")
    names = layer.fields().names()
    for field in ["patch_id", "image_path", "mask_path", "row_off", "col_off", "patch_size", "c_0", "c_1", "c_2",
                  "class_entropy", "nodata_ratio", "excl_border_nodata", "excl_black_border", "excl_low_entropy",
                  "excl_nodata_ratio", "excluded", "freq_cluster_id", "freq_cluster_size", "freq_cluster_weight",
                  "sampler_weight"]:
        assert field in names
    first = next(layer.getFeatures("patch_id = 0"))
    bbox = first.geometry().boundingBox()
    from qgis.core import QgsRasterLayer
    raster = QgsRasterLayer(lyon["IMAGE"], "img")
    pixel = raster.rasterUnitsPerPixelX()
    assert bbox.xMinimum() == pytest.approx(raster.extent().xMinimum())
    assert bbox.yMaximum() == pytest.approx(raster.extent().yMaximum())
    assert bbox.width() == pytest.approx(64 * pixel)

    # The default style stored in the GeoPackage is loaded with the file.
    assert isinstance(layer.renderer(), QgsGraduatedSymbolRenderer)
    assert layer.renderer().classAttribute() == "sampler_weight"
    first_range = layer.renderer().ranges()[0]
    assert (first_range.lowerValue(), first_range.upperValue()) == (0.0, 0.0)
    with sqlite3.connect(gpkg) as db:
        styles = db.execute("SELECT f_table_name, useAsDefault, styleQML FROM layer_styles").fetchall()
    assert len(styles) == 1 and styles[0][0] == "patches" and styles[0][1] == 1 and "sampler_weight" in styles[0][2]

    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    layer_weights = {f["patch_id"]: f["sampler_weight"] for f in layer.getFeatures()}
    assert len(rows) == 144
    for row in rows:
        assert float(row["sampler_weight"]) == pytest.approx(layer_weights[int(row["patch_id"])])


def test_same_weights_as_the_engine(run, lyon, tmp_path):
    from patch_balancer.balance_core import BalanceConfig, build_balanced_dataset

    result = run({**lyon, "SEED": 5, "OUTPUT": "TEMPORARY_OUTPUT"})
    layer = result["OUTPUT"]
    got = np.array([f["sampler_weight"] for f in sorted(layer.getFeatures(), key=lambda f: f["patch_id"])])
    table, _ = build_balanced_dataset([(lyon["IMAGE"], lyon["MASK"])], BalanceConfig(patch_size=64, seed=5))
    np.testing.assert_allclose(got, table["sampler_weight"])


def test_quebec_trap_warns_and_ignore_band_nodata_fixes_it(run, data_dir, tmp_path):
    params = dict(IMAGE=str(data_dir / "quebec/tiled_image_1.tif"), MASK=str(data_dir / "quebec/tiled_label_1.tif"),
                  PATCH_SIZE=64, OUTPUT=str(tmp_path / "q.gpkg"))
    with pytest.raises(Exception, match="All 64 patches are excluded"):
        run(params)
    assert not (tmp_path / "q.gpkg").exists()

    warnings = []

    class Recorder(QgsProcessingFeedback):
        def pushWarning(self, text):
            warnings.append(text)
            super().pushWarning(text)

    result = run({**params, "IGNORE_BAND_NODATA": True}, Recorder())
    assert result["EXCLUDED_COUNT"] == 0 and result["PATCH_COUNT"] == 64
    assert [w for w in warnings if not w.startswith("Class balance")] == []  # no nodata warning left


def test_optional_thresholds_and_stride(run, lyon):
    result = run({**lyon, "STRIDE": 32, "MIN_ENTROPY": 0.1, "MAX_NODATA_RATIO": 0.5, "K": 3,
                  "OUTPUT": "TEMPORARY_OUTPUT"})
    layer = result["OUTPUT"]
    assert result["PATCH_COUNT"] == 23 * 23 and result["CLUSTER_COUNT"] == 3
    low = [f for f in layer.getFeatures() if f["class_entropy"] < 0.1]
    assert low and all(f["excl_low_entropy"] == 1 and f["sampler_weight"] == 0 for f in low)


def test_explicit_nodata_value(run, lyon):
    result = run({**lyon, "NODATA": 2, "EXCLUDE_BORDER_NODATA": False, "OUTPUT": "TEMPORARY_OUTPUT"})
    layer = result["OUTPUT"]
    assert "c_2" not in layer.fields().names()
    assert max(f["nodata_ratio"] for f in layer.getFeatures()) > 0
