"""The class balance dock restricted to one split, and the split column kept in step (issue 16)."""
import numpy as np
import pytest
from qgis.core import QgsProject, QgsVectorLayer

from tests.qgis.qt_helpers import wait_for


@pytest.fixture(scope="module")
def split_weighted(processing_run, demo_output, tmp_path_factory):
    folder = tmp_path_factory.mktemp("split_dock")
    split = processing_run("patchbalancer:splitpatches", {"INPUT": demo_output["gpkg"], "COUNT_INSTANCES": False,
                                                         "OUTPUT": str(folder / "s.gpkg")})
    return processing_run("patchbalancer:computesamplerweights", {"INPUT": split["OUTPUT"],
                                                                   "OUTPUT": str(folder / "w.gpkg")})["OUTPUT"]


def by_hand(layer, split):
    feats = [f for f in layer.getFeatures() if split is None or f["split"] == split]
    labelled = np.array([f["patch_size"] ** 2 * (1 - f["nodata_ratio"]) for f in feats])
    counts = np.array([[f[f"c_{c}"] for c in range(4)] for f in feats]) * labelled[:, None]
    w = np.array([0.0 if f["excluded"] else f["sampler_weight"] for f in feats])
    weighted = w @ counts
    return len(feats), counts.sum(0) / counts.sum(), weighted / weighted.sum() if weighted.sum() else weighted


def test_split_labels_read_both_ways_and_kept_in_step(plugin, split_weighted):
    from patch_balancer.ui import patch_columns

    layer = QgsVectorLayer(split_weighted, "w", "ogr")
    wanted, text = patch_columns._wanted_fields(layer), patch_columns._text_fields(layer)
    fast = patch_columns._read_with_arrow(layer, wanted, text)
    slow = patch_columns._read_with_iterator(layer, wanted, text)
    assert fast is not None and text == ["split"]
    assert fast.labels["split"].tolist() == slow.labels["split"].tolist()
    assert fast.split_values() == ["train", "val", "test"]
    columns = patch_columns.read_patch_columns(layer)
    first_val = int(columns.split_rows("val")[0])
    fid = int(columns.fids[first_val])
    layer.startEditing()
    layer.changeAttributeValue(fid, layer.fields().indexOf("split"), "test")
    columns.set_value(fid, "split", "test")
    layer.deleteFeatures([int(columns.fids[0])])
    columns.delete([int(columns.fids[0])])
    assert columns.labels["split"].tolist() == patch_columns.read_patch_columns(layer).labels["split"].tolist()
    layer.rollBack()
    del layer


def test_the_dock_restricted_to_one_split(plugin, host_iface, split_weighted):
    project = QgsProject.instance()
    layer = QgsVectorLayer(split_weighted, "split patches", "ogr")
    project.addMapLayer(layer)
    host_iface.setActiveLayer(layer)
    plugin.dock_action.trigger()
    dock = plugin.dock
    try:
        dock.selected_only.setChecked(False)
        assert wait_for(lambda: not dock._timer.isActive() and dock.balance is not None)
        choice = dock.split_choice
        assert [choice.itemText(i) for i in range(choice.count())] == ["All splits", "train", "val", "test"]
        assert not choice.isHidden()
        for split in ("train", "val"):
            choice.setCurrentIndex(choice.findData(split))
            assert wait_for(lambda: not dock._timer.isActive())
            n, raw, weighted = by_hand(layer, split)
            assert dock.balance.n_patches == n
            np.testing.assert_allclose(dock.balance.raw_share, raw, rtol=1e-9)
            assert f"split “{split}”" in dock.header.text()
            if split == "train":
                np.testing.assert_allclose(dock.balance.weighted_share, weighted, rtol=1e-9)
            else:  # validation is never drawn
                assert dock.balance.n_drawable == 0 and dock.figures["ess"].text() == "–"
        choice.setCurrentIndex(0)
        assert wait_for(lambda: not dock._timer.isActive())
        assert dock.balance.n_patches == layer.featureCount()
    finally:
        dock.split_choice.setCurrentIndex(0)
        dock.close()
        project.removeAllMapLayers()
