import re

import numpy as np
import pytest
from osgeo import gdal

from balance_core.errors import InvalidParameterError
from balance_core.legend import ClassInfo, legend_from_json, legend_from_raster, legend_to_json, read_class_map
from balance_core.report import render_report, report_figures
from balance_core.table import PatchTable


def test_class_map_simple_and_qgis_export(tmp_path):
    simple = tmp_path / "classes.csv"
    simple.write_text("value,name,colour\n0,background,#000000\n1,building,#FF0000\n2,park\n")
    assert read_class_map(str(simple)) == {0: ClassInfo(0, "background", "#000000"),
                                           1: ClassInfo(1, "building", "#ff0000"), 2: ClassInfo(2, "park", "")}
    export = tmp_path / "qgis.txt"
    export.write_text("# QGIS Generated Color Map Export File\nINTERPOLATION:EXACT\n0,0,0,0,255,background\n"
                      "1,255,0,0,255,building, tall\n")
    assert read_class_map(str(export))[1] == ClassInfo(1, "building,tall", "#ff0000")


def test_bad_class_map_names_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("0,background,#00000\n")
    with pytest.raises(InvalidParameterError, match="line 1"):
        read_class_map(str(bad))


def test_names_and_colours_from_the_raster_itself(write_raster):
    path = write_raster("mask.tif", np.array([[0, 1], [2, 1]], np.uint8))
    ds = gdal.Open(path, gdal.GA_Update)
    band = ds.GetRasterBand(1)
    colours = gdal.ColorTable()
    colours.SetColorEntry(1, (255, 0, 0, 255))
    band.SetColorTable(colours)
    band.SetCategoryNames(["background", "building", "park"])
    del band, ds
    legend = legend_from_raster(path)
    assert legend[1] == ClassInfo(1, "building", "#ff0000") and legend[2].name == "park"
    assert legend_from_json(legend_to_json(legend)) == legend


def _table():
    """Three patches of 10 px: two background-only, one half building; weights 1, 1, 2."""
    counts = np.array([[10, 0], [10, 0], [5, 5]])
    return PatchTable({"patch_id": np.arange(4), "excluded": np.array([False, False, False, True]),
                       "sampler_weight": np.array([1.0, 1.0, 2.0, 0.0]),
                       "freq_cluster_id": np.array([0, 0, 1, -1]), "freq_cluster_size": np.array([2, 2, 1, 0]),
                       "freq_cluster_weight": np.array([0.5, 0.5, 1.0, 0.0])},
                      np.array([0, 1]), np.vstack([counts, [[0, 0]]]))


def test_report_numbers_against_a_hand_computation():
    f = report_figures(_table())
    np.testing.assert_allclose(f.balance.raw_share, [25 / 30, 5 / 30])
    np.testing.assert_allclose(f.balance.weighted_share, [(10 + 10 + 2 * 5) / 40, 10 / 40])
    assert f.balance.patches_with_class.tolist() == [3, 1]
    assert f.balance.effective_sample_size == pytest.approx(16 / 6)  # (1+1+2)² / (1+1+4)
    assert f.balance.max_oversampling == pytest.approx(2 / 1.0)  # mean over the 4 rows is 1
    assert [(c.cluster_id, c.size) for c in f.clusters] == [(1, 1), (0, 2)]
    np.testing.assert_allclose(f.clusters[0].mean_fractions, [0.5, 0.5])
    assert f.histogram[0].sum() == 3


def test_report_html_is_self_contained_and_names_classes():
    legend = {1: ClassInfo(1, "building <tall>", "#ff0000")}
    text = render_report(_table(), legend, "Report", {"Sampling method": "composition_only"})
    assert "building &lt;tall&gt;" in text and "#ff0000" in text and "<svg" in text
    assert re.search(r'id="ess">2\.7<', text) and 'id="max-oversampling">2.000×' in text
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
