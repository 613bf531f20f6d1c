"""What makes the dock fast at 160,000 patches changes none of its figures: the Arrow read in a worker thread
(batch by batch into arrays of the counted length), the kept column-major counts patched on edits, the kept
balance of all patches, and the selection's rows found without a sort."""
import numpy as np
import pytest
from qgis.core import QgsFeature, QgsGeometry, QgsVectorFileWriter, QgsVectorLayer


@pytest.fixture
def patch_gpkg(plugin, tmp_path):
    """300 patches, four classes, some NULL fractions and weights, a split field."""
    memory = QgsVectorLayer("Polygon?crs=EPSG:32631&field=patch_size:integer&field=c_0:double&field=c_1:double"
                            "&field=c_2:double&field=c_3:double&field=nodata_ratio:double&field=excluded:integer"
                            "&field=sampler_weight:double&field=split:string", "p", "memory")
    rng = np.random.default_rng(4)
    fractions = rng.dirichlet(np.full(4, 0.4), size=300)
    feats = []
    for i in range(300):
        f = QgsFeature(memory.fields())
        f.setAttributes([64, *(None if i == 7 and c == 2 else float(fractions[i, c]) for c in range(4)),
                         0.1 * (i % 3), int(i % 40 == 0), None if i % 50 == 3 else float(rng.gamma(2.0, 0.5)),
                         ("train", "val", "test")[i % 3]])
        f.setGeometry(QgsGeometry.fromWkt(f"POLYGON(({i} 0,{i + 1} 0,{i + 1} 1,{i} 1,{i} 0))"))
        feats.append(f)
    memory.dataProvider().addFeatures(feats)
    path = str(tmp_path / "p.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    assert QgsVectorFileWriter.writeAsVectorFormatV3(memory, path, memory.transformContext(), options)[0] == 0
    del memory
    return path


def same_balance(a, b):
    for name in ("raw_share", "weighted_share", "patches_with_class", "min_fraction", "max_fraction"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=0)
    assert (a.n_patches, a.n_drawable) == (b.n_patches, b.n_drawable)
    assert a.effective_sample_size == pytest.approx(b.effective_sample_size, rel=1e-12)
    assert a.max_oversampling == pytest.approx(b.max_oversampling, rel=1e-12)


def fresh(columns):
    """The same values in new columns: nothing kept from before."""
    from patch_balancer.ui.patch_columns import PatchColumns

    return PatchColumns(columns.fids.copy(), {n: v.copy() for n, v in columns.data.items()},
                        {n: v.copy() for n, v in columns.labels.items()})


@pytest.mark.parametrize("subset", ["", '"split" <> \'val\''])
def test_threaded_arrow_read_equals_the_iterator(patch_gpkg, subset):
    from patch_balancer.ui import patch_columns

    layer = QgsVectorLayer(patch_gpkg, "p", "ogr")
    layer.setSubsetString(subset)
    wanted, text = patch_columns._wanted_fields(layer), patch_columns._text_fields(layer)
    fast = patch_columns.start_reading(layer)()
    slow = patch_columns._read_with_iterator(layer, wanted, text)
    assert fast.fids.tolist() == slow.fids.tolist() and len(fast) == (300 if not subset else 200)
    for name in wanted:
        np.testing.assert_array_equal(fast.data[name], slow.data[name])
    assert fast.labels["split"].tolist() == slow.labels["split"].tolist()
    same_balance(fast.balance(), slow.balance())
    del layer


@pytest.mark.parametrize("expected", [-1, 0, 100, 300, 1000])
def test_batches_fill_whatever_the_count_said(patch_gpkg, monkeypatch, expected):
    """A count that is unknown, short (a stale gpkg_ogr_contents) or long still gives every row once."""
    from osgeo import ogr
    from patch_balancer.ui import patch_columns

    monkeypatch.setattr(patch_columns, "ARROW_BATCH", 64)  # several batches
    monkeypatch.setattr(ogr.Layer, "GetFeatureCount", lambda self, force=1: expected)
    layer = QgsVectorLayer(patch_gpkg, "p", "ogr")
    wanted = patch_columns._wanted_fields(layer)
    columns = patch_columns._read_with_arrow(layer, wanted, ["split"])
    reference = patch_columns._read_with_iterator(layer, wanted, ["split"])
    assert columns.fids.tolist() == reference.fids.tolist() and columns.fids.dtype == np.int64
    for name in wanted:
        np.testing.assert_array_equal(columns.data[name], reference.data[name])
    assert columns.labels["split"].tolist() == reference.labels["split"].tolist()
    del layer


def test_kept_counts_and_balance_follow_every_edit(patch_gpkg):
    from patch_balancer.ui.patch_columns import read_patch_columns

    layer = QgsVectorLayer(patch_gpkg, "p", "ogr")
    columns = read_patch_columns(layer)
    same_balance(columns.balance(), fresh(columns).balance())
    assert columns.balance() is columns.balance()  # kept while nothing changes
    rows = np.arange(0, 300, 3)
    for fid, name, value in ((5, "c_1", 0.9), (6, "patch_size", 32), (8, "nodata_ratio", 0.5), (9, "excluded", 1),
                             (10, "sampler_weight", 7.5), (11, "c_0", None), (12, "split", "val")):
        kept = columns.balance()
        columns.set_value(fid, name, value)
        if name != "split":
            assert columns.balance() is not kept
        same_balance(columns.balance(), fresh(columns).balance())
        same_balance(columns.balance(rows), fresh(columns).balance(rows))
        np.testing.assert_array_equal(columns.counts(), fresh(columns).counts())
    columns.insert(1000, {"c_0": 1.0, "c_1": 0.0, "c_2": 0.0, "c_3": 0.0, "patch_size": 64, "nodata_ratio": 0.0,
                          "excluded": 0, "sampler_weight": 3.0, "split": "train"})
    same_balance(columns.balance(), fresh(columns).balance())
    columns.delete([1, 2, 1000])
    same_balance(columns.balance(), fresh(columns).balance())
    assert columns.counts().flags["F_CONTIGUOUS"] and columns.counts().shape == (298, 4)
    del layer


@pytest.mark.parametrize("fids", [np.arange(1, 301), np.r_[-3, -1, np.arange(1, 299, 2)], np.arange(10, 310) * 7])
def test_rows_of_the_selection_dense_or_not(plugin, fids):
    from patch_balancer.ui.patch_columns import PatchColumns

    columns = PatchColumns(fids, {"c_0": np.ones(len(fids))})
    rng = np.random.default_rng(0)
    wanted = set(rng.choice(fids, 120).tolist()) | {10_000, -50, int(fids[0]) - 1, int(fids[-1]) + 1}
    expected = sorted(i for i, fid in enumerate(fids.tolist()) if fid in wanted)
    assert columns.rows(wanted).tolist() == expected
    assert columns.rows(set()).tolist() == [] and PatchColumns([], {}).rows({1, 2}).tolist() == []
