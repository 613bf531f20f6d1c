"""The user's files are sacred: outputs are staged and put in place only when a run succeeded.

Each case writes into a folder that already holds the user's files (a GeoPackage with two other
layers among them) and checks, byte for byte, that a failed or cancelled run changed nothing and
left nothing behind, and that a successful one replaced only what it was asked to.
"""
import hashlib
import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
from osgeo import ogr, osr
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer

from tests.qgis.qt_helpers import CancelAfter

ALG = "patchbalancer:buildbalanceddataset"
WEIGHTS = "patchbalancer:computesamplerweights"


def snapshot(folder) -> dict:
    """Every file under `folder` with its bytes' digest and mode."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = (hashlib.sha256(fh.read()).hexdigest(), os.stat(path).st_mode)
    return out


def user_geopackage(path, layers=("roads", "fields", "patches")) -> str:
    """A GeoPackage of the user's: a few small layers, one of them named like our output."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    for i, name in enumerate(layers):
        layer = dataset.CreateLayer(name, srs, ogr.wkbPolygon)
        layer.CreateField(ogr.FieldDefn("note", ogr.OFTString))
        for j in range(3 + i):
            feature = ogr.Feature(layer.GetLayerDefn())
            feature.SetField("note", f"{name} {j}")
            feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON(({j} 0,{j + 1} 0,{j + 1} 1,{j} 0))"))
            layer.CreateFeature(feature)
    dataset = None
    return str(path)


def layer_names(path) -> dict:
    dataset = ogr.Open(str(path))
    return {dataset.GetLayer(i).GetName(): dataset.GetLayer(i).GetFeatureCount() for i in range(dataset.GetLayerCount())}


def into(path, table="patches") -> str:
    return f"ogr:dbname='{path}' table=\"{table}\" (geom)"


@pytest.fixture
def lyon(data_dir):
    return {"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif")}



def progress_reports(processing_run, params) -> int:
    counter = CancelAfter(10**9)
    processing_run(ALG, {**params, "OUTPUT": "TEMPORARY_OUTPUT"}, feedback=counter)
    return counter.calls


@pytest.mark.parametrize("moment", ["measuring", "writing the layer", "after the layer"])
def test_cancel_leaves_a_geopackage_with_other_layers_byte_for_byte(processing_run, lyon, tmp_path, moment):
    total = progress_reports(processing_run, {**lyon, "PATCH_SIZE": 16, "K": 4})
    gpkg = user_geopackage(tmp_path / "work.gpkg")
    (tmp_path / "old.csv").write_text("user's csv")
    before = snapshot(tmp_path)
    params = {**lyon, "PATCH_SIZE": 16, "K": 4, "OUTPUT_CSV": str(tmp_path / "old.csv"),
              "REPORT": str(tmp_path / "new_report.html")}
    after = {"measuring": 5, "writing the layer": total - 1, "after the layer": total}[moment]
    feedback = CancelAfter(after)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing_run(ALG, {**params, "OUTPUT": into(gpkg)}, feedback=feedback)
    assert snapshot(tmp_path) == before
    assert layer_names(gpkg) == {"roads": 3, "fields": 4, "patches": 5}


def test_success_replaces_only_its_own_layer(processing_run, lyon, tmp_path):
    gpkg = user_geopackage(tmp_path / "work.gpkg")
    for run in range(2):  # the second run meets its own stored style: no question may be asked
        result = processing_run(ALG, {**lyon, "PATCH_SIZE": 64, "OUTPUT": into(gpkg)}, feedback=QgsProcessingFeedback())
        assert result["OUTPUT"] == f"{gpkg}|layername=patches"
    assert layer_names(gpkg) == {"roads": 3, "fields": 4, "patches": 144, "layer_styles": 1}
    assert sorted(os.listdir(tmp_path)) == ["work.gpkg"]  # no staged file, no -wal/-shm left
    layer = QgsVectorLayer(result["OUTPUT"], "check", "ogr")  # opens with its stored default style
    assert layer.isValid() and layer.renderer().type() == "graduatedSymbol"
    assert layer.fields().indexOf("sampler_weight") >= 0
    del layer
    with sqlite3.connect(gpkg) as db:
        styles = db.execute("SELECT f_table_name, useAsDefault FROM layer_styles").fetchall()
    assert styles == [("patches", 1)]


def test_a_layer_with_another_name_is_added(processing_run, lyon, tmp_path):
    gpkg = user_geopackage(tmp_path / "work.gpkg")
    processing_run(ALG, {**lyon, "PATCH_SIZE": 64, "OUTPUT": into(gpkg, "balanced")}, feedback=QgsProcessingFeedback())
    assert layer_names(gpkg) == {"roads": 3, "fields": 4, "patches": 5, "balanced": 144, "layer_styles": 1}


def test_a_plain_file_output_is_replaced_whole_and_keeps_its_permissions(processing_run, lyon, tmp_path):
    csv_path = tmp_path / "patches.csv"
    csv_path.write_text("old")
    os.chmod(csv_path, 0o640)
    processing_run(ALG, {**lyon, "PATCH_SIZE": 64, "OUTPUT": str(tmp_path / "patches.gpkg"), "OUTPUT_CSV": str(csv_path)},
                   feedback=QgsProcessingFeedback())
    assert stat.S_IMODE(os.stat(csv_path).st_mode) == 0o640
    assert csv_path.read_text().startswith("patch_id,")
    assert layer_names(tmp_path / "patches.gpkg") == {"patches": 144, "layer_styles": 1}
    assert sorted(os.listdir(tmp_path)) == ["patches.csv", "patches.gpkg"]


def test_a_failed_run_removes_the_folders_it_created(processing_run, write_raster, lyon, tmp_path):
    params = {**lyon, "PATCH_SIZE": 16, "OUTPUT": str(tmp_path / "new" / "deeper" / "p.gpkg"),
              "OUTPUT_CSV": str(tmp_path / "other" / "p.csv")}
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing_run(ALG, params, feedback=CancelAfter(progress_reports(processing_run, {**lyon, "PATCH_SIZE": 16}) - 1))
    assert sorted(os.listdir(tmp_path)) == []


# --- checks before any work -----------------------------------------------------------------------

@pytest.fixture
def weighted_layer(processing_run, lyon, tmp_path):
    path = tmp_path / "in.gpkg"
    processing_run(ALG, {**lyon, "PATCH_SIZE": 64, "OUTPUT": str(path)}, feedback=QgsProcessingFeedback())
    return str(path)


COLLISIONS = {
    "csv is the mask": (ALG, lambda p, lyon: {"OUTPUT_CSV": lyon["MASK"]}, ("OUTPUT_CSV", "MASK")),
    "report is the image": (ALG, lambda p, lyon: {"REPORT": lyon["IMAGE"]}, ("REPORT", "IMAGE")),
    "csv is the layer": (ALG, lambda p, lyon: {"OUTPUT": str(p / "a.gpkg"), "OUTPUT_CSV": str(p / "a.gpkg")},
                         ("OUTPUT", "OUTPUT_CSV")),
    "cache is the layer": (ALG, lambda p, lyon: {"MODE": 2, "EMBEDDER": "descriptor", "OUTPUT": str(p / "a.gpkg"),
                                                 "EMBEDDINGS_CACHE": str(p / "a.gpkg")}, ("OUTPUT", "EMBEDDINGS_CACHE")),
    "class map is the csv": (ALG, lambda p, lyon: {"CLASS_MAP": str(p / "classes.csv"), "OUTPUT_CSV": str(p / "classes.csv")},
                             ("OUTPUT_CSV", "CLASS_MAP")),
}


@pytest.mark.parametrize("case", sorted(COLLISIONS))
def test_an_output_that_is_an_input_or_another_output_is_refused(processing_run, lyon, tmp_path, case):
    alg, extra, keys = COLLISIONS[case]
    (tmp_path / "classes.csv").write_text("0,field,#00ff00\n")
    before = snapshot(tmp_path)
    inputs_before = {k: hashlib.sha256(open(v, "rb").read()).hexdigest() for k, v in lyon.items()}
    params = {**lyon, "PATCH_SIZE": 64, "OUTPUT": str(tmp_path / "out.gpkg"), **extra(tmp_path, lyon)}
    with pytest.raises(QgsProcessingException) as raised:
        processing_run(alg, params, feedback=QgsProcessingFeedback())
    assert all(key in str(raised.value) for key in keys), str(raised.value)
    assert snapshot(tmp_path) == before
    assert inputs_before == {k: hashlib.sha256(open(v, "rb").read()).hexdigest() for k, v in lyon.items()}


def test_the_input_patch_layer_cannot_be_the_output(processing_run, weighted_layer, tmp_path):
    before = snapshot(tmp_path)
    for output in (weighted_layer, into(weighted_layer, "in")):
        with pytest.raises(QgsProcessingException, match="OUTPUT .* INPUT"):
            processing_run(WEIGHTS, {"INPUT": weighted_layer, "OUTPUT": output}, feedback=QgsProcessingFeedback())
    assert snapshot(tmp_path) == before
    # another layer of the same GeoPackage is fine: only that layer is written
    processing_run(WEIGHTS, {"INPUT": weighted_layer, "OUTPUT": into(weighted_layer, "reweighted")},
                   feedback=QgsProcessingFeedback())
    assert layer_names(weighted_layer) == {"in": 144, "layer_styles": 2, "reweighted": 144}


@pytest.mark.parametrize("where", ["folder", "under a file", "shapefile"])
def test_an_unusable_destination_is_refused_before_any_work(processing_run, lyon, tmp_path, where):
    (tmp_path / "a_file.txt").write_text("x")
    (tmp_path / "dir.gpkg").mkdir()
    output, expected = {
        "folder": ({"OUTPUT": str(tmp_path / "dir.gpkg")}, "is a folder"),
        "under a file": ({"OUTPUT_CSV": str(tmp_path / "a_file.txt" / "p.csv")}, "is a file, not a folder"),
        "shapefile": ({"OUTPUT": str(tmp_path / "p.shp")}, "10 characters"),
    }[where]
    before = snapshot(tmp_path)
    with pytest.raises(QgsProcessingException, match=expected):
        processing_run(ALG, {**lyon, "PATCH_SIZE": 64, "OUTPUT": str(tmp_path / "p.gpkg"), **output},
                       feedback=QgsProcessingFeedback())
    assert snapshot(tmp_path) == before


def test_an_unwritable_embeddings_cache_is_refused_before_embedding(processing_run, lyon, tmp_path):
    (tmp_path / "a_file.txt").write_text("x")
    messages = []
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(messages.append)
    with pytest.raises(QgsProcessingException, match="EMBEDDINGS_CACHE"):
        processing_run(ALG, {**lyon, "PATCH_SIZE": 64, "MODE": 2, "EMBEDDER": "descriptor",
                             "EMBEDDINGS_CACHE": str(tmp_path / "a_file.txt" / "cache.parquet"),
                             "OUTPUT": str(tmp_path / "p.gpkg")}, feedback=feedback)
    assert messages == []  # refused before the first step reported any progress


# --- a read-only folder and a full disk (small tmpfs mounts; root only) ------------------------------

@pytest.fixture
def mount(tmp_path):
    mounted = []

    def make(name, options):
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield make
    for point in reversed(mounted):
        subprocess.run(["umount", str(point)], check=False)


def test_a_read_only_csv_folder_is_refused_before_the_geopackage_is_touched(processing_run, lyon, tmp_path, mount):
    gpkg = user_geopackage(tmp_path / "work.gpkg")
    read_only = mount("ro", "ro,size=1m")
    before = snapshot(tmp_path)
    with pytest.raises(QgsProcessingException, match="OUTPUT_CSV.*not writable"):
        processing_run(ALG, {**lyon, "PATCH_SIZE": 64, "OUTPUT": into(gpkg), "OUTPUT_CSV": str(read_only / "p.csv")},
                       feedback=QgsProcessingFeedback())
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("what", ["layer", "csv"])
def test_a_full_disk_fails_cleanly(processing_run, lyon, mount, what):
    disk = mount("small", "size=400k")
    gpkg = user_geopackage(disk / "work.gpkg")
    (disk / "filler").write_bytes(b"\0" * (250 << 10))  # what is left fits the user's files, not our output
    before = snapshot(disk)
    params = {**lyon, "PATCH_SIZE": 16, "K": 4, "OUTPUT": into(gpkg) if what == "layer" else "TEMPORARY_OUTPUT"}
    if what == "csv":
        params["OUTPUT_CSV"] = str(disk / "p.csv")
    with pytest.raises(QgsProcessingException, match="disk is full"):
        processing_run(ALG, params, feedback=QgsProcessingFeedback())
    assert snapshot(disk) == before
    assert layer_names(gpkg) == {"roads": 3, "fields": 4, "patches": 5}


# --- the format's limits ------------------------------------------------------------------------------

def test_more_classes_than_a_geopackage_has_columns(processing_run, write_raster, tmp_path):
    """2,100 classes: the fractions go into class_dist_json, said in the log, and the next step reads them."""
    mask = (np.arange(64 * 64).reshape(64, 64) % 2100).astype(np.uint16)
    image = write_raster("image.tif", np.random.default_rng(1).integers(0, 255, (3, 64, 64)).astype(np.uint8))
    warnings = []
    feedback = QgsProcessingFeedback()
    feedback.pushWarning = warnings.append
    out = tmp_path / "many.gpkg"
    result = processing_run(ALG, {"IMAGE": image, "MASK": write_raster("mask.tif", mask), "PATCH_SIZE": 16,
                                  "EXCLUDE_BORDER_NODATA": False, "SAMPLING_METHOD": 5,  # composition_only: quick here
                                  "OUTPUT": str(out)}, feedback=feedback)
    assert result["PATCH_COUNT"] == 16
    assert any("class_dist_json" in w for w in warnings)
    layer = QgsVectorLayer(str(out), "many", "ogr")
    assert layer.featureCount() == 16 and layer.fields().indexOf("class_dist_json") >= 0
    assert not [f for f in layer.fields().names() if f.startswith("c_")]
    del layer
    again = processing_run(WEIGHTS, {"INPUT": str(out), "SAMPLING_METHOD": 5, "OUTPUT": "TEMPORARY_OUTPUT"},
                           feedback=QgsProcessingFeedback())
    assert again["PATCH_COUNT"] == 16


# --- through qgis_process: two runs at once, SIGTERM --------------------------------------------------

WRAPPER = Path(__file__).resolve().parents[2] / "scripts" / "qgis_process"


def test_two_runs_on_the_same_outputs_never_mix(lyon, tmp_path):
    """Each run's layer and CSV come together: the last run to finish wins with both."""
    out, csv_path = tmp_path / "p.gpkg", tmp_path / "p.csv"
    runs = [subprocess.Popen([str(WRAPPER), "run", ALG, "--", f"IMAGE={lyon['IMAGE']}", f"MASK={lyon['MASK']}",
                              f"PATCH_SIZE={size}", f"OUTPUT={out}", f"OUTPUT_CSV={csv_path}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for size in (32, 64)]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    rows = len(csv_path.read_text().splitlines()) - 1
    assert rows in (576, 144) and layer_names(out)["p"] == rows
    assert sorted(os.listdir(tmp_path)) == ["p.csv", "p.gpkg"]


def test_sigterm_cancels_and_leaves_the_geopackage_as_it_was(lyon, tmp_path):
    """`kill` on a qgis_process run: it cancels like the Cancel button; nothing staged is left behind."""
    gpkg = user_geopackage(tmp_path / "work.gpkg")
    before = snapshot(tmp_path)
    run = subprocess.Popen(["stdbuf", "-o0", str(WRAPPER), "run", ALG, "--", f"IMAGE={lyon['IMAGE']}", f"MASK={lyon['MASK']}",
                            "PATCH_SIZE=8", "MODE=2", "EMBEDDER=descriptor", f"OUTPUT={into(gpkg)}",
                            f"OUTPUT_CSV={tmp_path / 'p.csv'}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, bufsize=1)
    seen = ""
    while "Embedded" not in seen:  # working: the embeddings have started (stdbuf: progress unbuffered)
        line = run.stdout.read(1)
        assert line, seen
        seen += line
    run.terminate()
    rest, _ = run.communicate(timeout=120)
    assert run.returncode != 0
    assert "(SIGTERM): cancelling the run" in rest and "Cancelled" in rest
    assert snapshot(tmp_path) == before
    assert layer_names(gpkg) == {"roads": 3, "fields": 4, "patches": 5}


def test_run_and_load_results_loads_the_committed_layer_styled(provider, lyon, tmp_path):
    """The desktop's 'open output file after running': QGIS loads the final file, never the staged one."""
    import processing
    from qgis.core import QgsProject

    gpkg = user_geopackage(tmp_path / "work.gpkg")
    result = processing.runAndLoadResults(ALG, {**lyon, "PATCH_SIZE": 64, "OUTPUT": into(gpkg)},
                                          feedback=QgsProcessingFeedback())
    loaded = [layer for layer in QgsProject.instance().mapLayers().values() if layer.source() == result["OUTPUT"]]
    try:
        assert len(loaded) == 1 and loaded[0].featureCount() == 144
        assert loaded[0].renderer().type() == "graduatedSymbol"
        assert sorted(os.listdir(tmp_path)) == ["work.gpkg"]
    finally:
        QgsProject.instance().removeMapLayers([layer.id() for layer in loaded])
