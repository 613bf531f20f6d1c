"""Reading a patch layer's columns for the dock: the Arrow fast path and the feature iterator agree,
NULLs, subset strings and unsaved edits are honoured, and single-cell bookkeeping matches a reread."""
import numpy as np
import pytest
from qgis.core import NULL, QgsFeature, QgsGeometry, QgsVectorFileWriter, QgsVectorLayer


@pytest.fixture
def patch_gpkg(plugin, tmp_path):
    """Six patches, three classes; patch 3 has a NULL weight, patch 5 is excluded."""
    memory = QgsVectorLayer("Polygon?crs=EPSG:32631&field=patch_id:integer&field=patch_size:integer"
                            "&field=c_0:double&field=c_1:double&field=c_m1:double&field=nodata_ratio:double"
                            "&field=excluded:integer&field=sampler_weight:double&field=split:string", "p", "memory")
    feats = []
    for i in range(6):
        f = QgsFeature(memory.fields())
        f.setAttributes([i, 10, 0.5, 0.25 * (i % 2), 0.5 - 0.25 * (i % 2), 0.1 * i, int(i == 5),
                         NULL if i == 3 else 1.0 + i, "train"])
        f.setGeometry(QgsGeometry.fromWkt(f"POLYGON(({i} 0,{i + 1} 0,{i + 1} 1,{i} 1,{i} 0))"))
        feats.append(f)
    memory.dataProvider().addFeatures(feats)
    path = str(tmp_path / "p.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    error = QgsVectorFileWriter.writeAsVectorFormatV3(memory, path, memory.transformContext(), options)
    assert error[0] == QgsVectorFileWriter.NoError
    del memory
    return path


def columns_equal(a, b):
    assert a.fids.tolist() == b.fids.tolist()
    assert sorted(a.data) == sorted(b.data)
    for name in a.data:
        np.testing.assert_array_equal(a.data[name], b.data[name])


def test_arrow_and_iterator_agree_with_nulls_and_a_subset(patch_gpkg):
    from patch_balancer.ui import patch_columns

    layer = QgsVectorLayer(patch_gpkg, "p", "ogr")
    wanted = patch_columns._wanted_fields(layer)
    assert wanted == ["c_0", "c_1", "c_m1", "patch_size", "nodata_ratio", "excluded", "sampler_weight"]
    fast = patch_columns._read_with_arrow(layer, wanted)
    slow = patch_columns._read_with_iterator(layer, wanted)
    assert fast is not None
    columns_equal(fast, slow)
    assert np.isnan(fast.data["sampler_weight"][3]) and fast.class_fields == ["c_m1", "c_0", "c_1"]
    layer.setSubsetString('"patch_id" >= 2')
    columns_equal(patch_columns._read_with_arrow(layer, wanted), patch_columns._read_with_iterator(layer, wanted))
    assert len(patch_columns.read_patch_columns(layer)) == 4
    del layer


def test_balance_counts_labelled_pixels_and_skips_excluded_and_null_weights(patch_gpkg):
    from patch_balancer.ui.patch_columns import read_patch_columns

    layer = QgsVectorLayer(patch_gpkg, "p", "ogr")
    b = read_patch_columns(layer).balance()
    labelled = 100 * (1 - 0.1 * np.arange(6))
    c1 = 0.25 * (np.arange(6) % 2) * labelled
    w = np.array([1, 2, 3, 0, 5, 0], dtype=float)  # NULL weight and excluded: never drawn
    assert b.class_values.tolist() == [-1, 0, 1]
    assert b.raw_share[2] == pytest.approx(c1.sum() / labelled.sum())
    assert b.weighted_share[2] == pytest.approx((c1 * w).sum() / (labelled * w).sum())
    assert (b.n_patches, b.n_drawable) == (6, 4)
    del layer


def test_bookkeeping_of_edits_matches_a_reread(patch_gpkg):
    from patch_balancer.ui.patch_columns import read_feature, read_patch_columns

    layer = QgsVectorLayer(patch_gpkg, "p", "ogr")
    columns = read_patch_columns(layer)
    layer.startEditing()
    weight = layer.fields().indexOf("sampler_weight")
    layer.changeAttributeValue(2, weight, 9.5)
    columns.set_value(2, "sampler_weight", 9.5)
    layer.changeAttributeValue(4, weight, NULL)
    columns.set_value(4, "sampler_weight", NULL)
    added = QgsFeature(layer.fields())
    added.setAttributes([None, 7, 10, 1.0, 0.0, 0.0, 0.0, 0, 2.0, "val"])
    assert layer.addFeature(added)
    new_fid = [f.id() for f in layer.getFeatures() if f.id() < 0][0]
    columns.insert(new_fid, read_feature(layer, new_fid))
    layer.deleteFeatures([1, 6])
    columns.delete([1, 6])
    reread = read_patch_columns(layer)  # unsaved edits: read through the iterator, which sees them
    columns_equal(columns, reread)
    assert columns.rows([new_fid, 5, 999]).tolist() == [0, 4]
    layer.rollBack()
    del layer
