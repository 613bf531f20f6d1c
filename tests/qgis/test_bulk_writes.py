"""The bulk GeoPackage writer (balance_core.gpkg_bulk) writes the same layer as QGIS's feature sink.

The same run is made twice, once through the sink (`BULK_WRITES = False`) and once in bulk, and the two
GeoPackages are compared table by table (schema, geometry blobs, R-tree, extent, feature count, SRS,
stored style), then opened with OGR and QGIS (features, extent, spatial filter). The Arrow read of a
patch layer gives the step algorithms the same table as the feature iterator.
"""
import sqlite3

import numpy as np
import pytest
from osgeo import ogr
from qgis.core import QgsFeatureRequest, QgsProcessingFeedback, QgsRectangle, QgsVectorLayer

ALG = "patchbalancer:buildbalanceddataset"
WEIGHTS = "patchbalancer:computesamplerweights"


@pytest.fixture
def lyon(data_dir):
    return {"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif")}


@pytest.fixture
def patch_layer_module(provider):
    from patch_balancer.processing_provider import patch_layer

    return patch_layer


def run(processing_run, module, monkeypatch, bulk, params):
    monkeypatch.setattr(module, "BULK_WRITES", bulk)
    return processing_run(ALG, params, feedback=QgsProcessingFeedback())


def tables(path, layer) -> dict:
    """Everything a GeoPackage holds about `layer`, comparable between two files (times left out)."""
    with sqlite3.connect(str(path)) as db:
        q = lambda sql, *a: db.execute(sql, a).fetchall()  # noqa: E731
        geometry = q("SELECT column_name, geometry_type_name, srs_id, z, m FROM gpkg_geometry_columns "
                     "WHERE table_name = ?", layer)
        rtree = f"rtree_{layer}_{geometry[0][0]}"
        return {
            "schema": q("SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN (?, ?) ORDER BY name", layer, rtree),
            "rows": q(f'SELECT * FROM "{layer}" ORDER BY fid'),
            "rtree": q(f'SELECT * FROM "{rtree}" ORDER BY id'),
            "contents": q("SELECT table_name, data_type, identifier, description, min_x, min_y, max_x, max_y, srs_id "
                          "FROM gpkg_contents WHERE table_name = ?", layer),
            "geometry": geometry,
            "srs": q("SELECT * FROM gpkg_spatial_ref_sys ORDER BY srs_id"),
            "extensions": q("SELECT * FROM gpkg_extensions WHERE table_name = ? ORDER BY extension_name", layer),
            "count": q("SELECT * FROM gpkg_ogr_contents WHERE table_name = ?", layer),
            "styles": q("SELECT f_table_name, f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, "
                        "description FROM layer_styles WHERE f_table_name = ?", layer),
        }


def same_tables(a: dict, b: dict, name_a: str, name_b: str) -> bool:
    """`tables` of two layers alike, the layer's name aside. The extent may differ in the last digits (GDAL's
    own writer stores it rounded, the bulk writer exactly); GDAL's writer leaves the cached feature count
    NULL where the bulk writer stores it."""
    for key in a:
        left = sorted(repr(row).replace(name_a, "LAYER") for row in a[key])
        right = sorted(repr(row).replace(name_b, "LAYER") for row in b[key])
        if key == "contents":
            assert [r[1:2] + r[3:4] + r[8:] for r in a[key]] == [r[1:2] + r[3:4] + r[8:] for r in b[key]]
            assert np.allclose([r[4:8] for r in a[key]], [r[4:8] for r in b[key]], rtol=0, atol=1e-6)
        elif key == "count":
            rows = len(a["rows"])
            assert [r[1] in (None, rows) for r in a[key] + b[key]] == [True, True]
        elif key in ("rows", "rtree"):  # no layer name in there, but maybe in a path
            assert a[key] == b[key], key
        else:
            assert left == right, key
    return True


def qgis_view(uri) -> dict:
    layer = QgsVectorLayer(uri, "check", "ogr")
    assert layer.isValid()
    extent = layer.extent()
    middle = QgsRectangle(extent.center().x() - 40, extent.center().y() - 40, extent.center().x() + 40,
                          extent.center().y() + 40)
    view = {
        "count": layer.featureCount(), "extent": extent.toString(17), "fields": layer.fields().names(),
        "features": [(f.id(), f.attributes(), f.geometry().asWkt(17)) for f in layer.getFeatures()],
        "filtered": sorted(f.id() for f in layer.getFeatures(QgsFeatureRequest().setFilterRect(middle))),
        "renderer": layer.renderer().type(), "crs": layer.crs().authid(),
    }
    assert view["filtered"]
    del layer
    return view


def ogr_view(path, name) -> dict:
    dataset = ogr.Open(str(path))
    layer = dataset.GetLayerByName(name)
    extent = layer.GetExtent()
    layer.SetSpatialFilterRect(extent[0], extent[2], (extent[0] + extent[1]) / 2, (extent[2] + extent[3]) / 2)
    return {"extent": extent, "count": layer.GetFeatureCount(), "filtered": sorted(f.GetFID() for f in layer)}


def test_a_new_geopackage_is_the_same_as_the_sinks(processing_run, patch_layer_module, monkeypatch, lyon, tmp_path):
    params = {**lyon, "PATCH_SIZE": 32}
    run(processing_run, patch_layer_module, monkeypatch, False, {**params, "OUTPUT": str(tmp_path / "sink.gpkg")})
    run(processing_run, patch_layer_module, monkeypatch, True, {**params, "OUTPUT": str(tmp_path / "bulk.gpkg")})
    sink, bulk = tables(tmp_path / "sink.gpkg", "sink"), tables(tmp_path / "bulk.gpkg", "bulk")
    assert same_tables(sink, bulk, "sink", "bulk")
    assert len(bulk["rows"]) == 576 and len(bulk["rtree"]) == 576
    assert ogr_view(tmp_path / "sink.gpkg", "sink") == ogr_view(tmp_path / "bulk.gpkg", "bulk")
    assert qgis_view(str(tmp_path / "sink.gpkg")) == qgis_view(str(tmp_path / "bulk.gpkg"))


def test_a_layer_into_an_existing_geopackage(processing_run, patch_layer_module, monkeypatch, lyon, tmp_path):
    from tests.qgis.test_safe_outputs import into, layer_names, user_geopackage

    views = {}
    for bulk in (False, True):
        gpkg = user_geopackage(tmp_path / f"work_{bulk}.gpkg")
        for _ in range(2):  # the second run replaces its own layer
            run(processing_run, patch_layer_module, monkeypatch, bulk, {**lyon, "PATCH_SIZE": 32, "OUTPUT": into(gpkg)})
        assert layer_names(gpkg) == {"roads": 3, "fields": 4, "patches": 576, "layer_styles": 1}
        views[bulk] = (tables(gpkg, "patches"), ogr_view(gpkg, "patches"), qgis_view(f"{gpkg}|layername=patches"))
    assert same_tables(views[False][0], views[True][0], "patches", "patches")
    assert views[True][1:] == views[False][1:]


def test_a_step_reads_the_layer_by_arrow_as_by_the_iterator(processing_run, patch_layer_module, monkeypatch, lyon,
                                                            tmp_path):
    """Reading the layer through GDAL's Arrow stream or through QGIS's iterator gives the same weights, bit for bit."""
    first = tmp_path / "first.gpkg"
    run(processing_run, patch_layer_module, monkeypatch, True, {**lyon, "PATCH_SIZE": 32, "OUTPUT": str(first)})
    outs, used = {}, []
    arrow_read = patch_layer_module._read_with_arrow

    def watched(*args):
        read = arrow_read(*args)
        used.append(read is not None)
        return read

    monkeypatch.setattr(patch_layer_module, "_read_with_arrow", watched)
    for arrow in (False, True):
        monkeypatch.setattr(patch_layer_module, "ARROW_READS", arrow)
        out = tmp_path / f"again_{arrow}.gpkg"
        processing_run(WEIGHTS, {"INPUT": str(first), "OUTPUT": str(out)}, feedback=QgsProcessingFeedback())
        outs[arrow] = tables(out, out.stem)
    assert used == [True]  # the Arrow read was taken when allowed
    assert same_tables(outs[False], outs[True], "again_False", "again_True")
    weights = [r for r in outs[True]["rows"]]
    assert len(weights) == 576
    assert np.isfinite([r[-1] for r in weights]).all()
