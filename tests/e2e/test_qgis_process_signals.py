"""Signals and bad parameters through qgis_process.bin, as a command-line user meets them.

An exception escaping a Python checkParameterValues used to abort qgis_process (SIGABRT, rc 134);
Ctrl+C used to be ignored while a run went on for minutes.
"""
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
WRAPPER = REPO / "scripts" / "qgis_process"
ALG = "patchbalancer:buildbalanceddataset"


def qgis_process(*args):
    return subprocess.run([str(WRAPPER), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def lyon(data_dir):
    return [f"IMAGE={data_dir / 'lyon/image_rgb.tif'}", f"MASK={data_dir / 'lyon/labels.tif'}"]


BAD = [  # (parameters, what the message must say)
    (["BANDS=a,b"], "BANDS must be 1-based band numbers such as 4,3,2; got a,b"),
    (["BANDS=1,2"], "BANDS must be one band"),
    (["MODE=2", "EMBEDDER=descriptor", "BANDS=7"], "BANDS asks for band 7, but the image"),
    (["PATCH_SIZE=99999999999"], "(PATCH_SIZE) must be a whole number from 1 to 2147483647; got 99999999999"),
    (["PATCH_SIZE=12.5"], "(PATCH_SIZE) must be a whole number"),
    (["STRIDE=abc"], "(STRIDE) must be a whole number"),
    (["SEED=-1"], "(SEED) must be a whole number from 0 to 2147483647; got -1"),
    (["NODATA=1e20"], "(NODATA) must be a whole number from -2147483648 to 2147483647"),
    (["BLACK_TOLERANCE=nan"], "(BLACK_TOLERANCE) must be a number of at least 0; got nan"),
    (["MAX_OVERSAMPLING=0.5"], "(MAX_OVERSAMPLING) must be a number of at least 1; got 0.5"),
    (["MODE=7"], "(MODE) must be the number of one of its options: 0 = Masks only"),
    (["KNN_BACKEND=fast"], "(KNN_BACKEND) must be the number of one of its options"),
    (["IGNORE_BAND_NODATA=yes"], "(IGNORE_BAND_NODATA) must be true or false (or 1 / 0); got yes"),
    (["K_MIN=20"], "1 ≤ K min ≤ K max"),
    (["MODE=0", "SAMPLING_METHOD=6"], "needs visual uniqueness"),
    (["CLASS_MAP=/no/such/classes.csv"], "CLASS_MAP: Cannot read the class map"),
    (["MODE=2", "EMBEDDER=/no/such/model"], "EMBEDDER: the model folder '/no/such/model' does not exist"),
]


@pytest.mark.parametrize("params, message", BAD, ids=[" ".join(p) for p, _ in BAD])
def test_a_bad_value_exits_1_with_a_message_naming_it(lyon, tmp_path, params, message):
    result = qgis_process("run", ALG, "--", *lyon, *params, f"OUTPUT={tmp_path / 'x.gpkg'}")
    assert result.returncode == 1, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    output = result.stdout + result.stderr
    assert message in output
    assert "Traceback" not in output
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("alg, params, message", [
    ("createpatchgrid", ["PATCH_SIZE=0"], "(PATCH_SIZE) must be a whole number from 1"),
    ("computeclasscomposition", ["MAX_NODATA_RATIO=1.5"], "(MAX_NODATA_RATIO) must be a number from 0 to 1"),
    ("computevisualuniqueness", ["BANDS=x"], "BANDS must be 1-based band numbers"),
    ("computesamplerweights", ["SEED=-3"], "(SEED) must be a whole number from 0"),
])
def test_every_step_refuses_bad_values_without_aborting(lyon, tmp_path, alg, params, message):
    inputs = lyon if alg == "createpatchgrid" else [f"INPUT={tmp_path / 'none.gpkg'}"]
    result = qgis_process("run", f"patchbalancer:{alg}", "--", *inputs, *params, f"OUTPUT={tmp_path / 'x.gpkg'}")
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert message in result.stdout + result.stderr


def test_a_latin1_class_map_is_read_with_a_note(lyon, tmp_path):
    class_map = tmp_path / "classes.csv"
    class_map.write_bytes("0,fond,#d9d9d9\n1,bâti,#e31a1c\n2,végétation,#33a02c\n".encode("latin-1"))
    report = tmp_path / "report.html"
    result = qgis_process("run", ALG, "--", *lyon, "PATCH_SIZE=128", f"CLASS_MAP={class_map}",
                          f"OUTPUT={tmp_path / 'x.gpkg'}", f"REPORT={report}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "not UTF-8; it was read as Windows-1252" in result.stdout + result.stderr
    assert "végétation" in report.read_text(encoding="utf-8")


def test_a_grid_beyond_the_sampler_is_refused_before_any_work(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    paths = []
    for name, count in (("image.tif", 1), ("mask.tif", 1)):  # 8192² of zeros, a few kB compressed
        path = tmp_path / name
        with rasterio.open(path, "w", driver="GTiff", width=8192, height=8192, count=count, dtype="uint8",
                           crs="EPSG:32631", transform=from_origin(500000, 4500000, 1, 1), compress="deflate",
                           tiled=True):
            pass  # never written: GDAL fills with zeros
        paths.append(path)
    start = time.monotonic()
    result = qgis_process("run", ALG, "--", f"IMAGE={paths[0]}", f"MASK={paths[1]}", "PATCH_SIZE=16", "STRIDE=1",
                          f"OUTPUT={tmp_path / 'x.gpkg'}")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"The grid would hold {8177 ** 2:,} patches of 16 px every 1 px" in output
    assert "stride of at least" in output
    assert time.monotonic() - start < 60  # 66 million patches were never built
    assert not (tmp_path / "x.gpkg").exists()


class Reader(threading.Thread):
    """Collects a pipe's output as it comes (qgis_process prints progress without newlines)."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.text = pipe, ""

    def run(self):
        while True:
            chunk = os.read(self.pipe.fileno(), 4096)
            if not chunk:
                return
            self.text += chunk.decode("utf-8", "replace")


@pytest.fixture
def slow_run(tmp_path):
    """A run of about 25 s here: 65,536 patches of 8 px over a 2048² random mask."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    paths = {}
    for name, array in (("image.tif", rng.integers(0, 255, (3, 2048, 2048), dtype=np.uint8)),
                        ("mask.tif", rng.integers(0, 4, (1, 2048, 2048), dtype=np.uint8))):
        paths[name] = tmp_path / name
        with rasterio.open(paths[name], "w", driver="GTiff", width=2048, height=2048, count=array.shape[0],
                           dtype="uint8", crs="EPSG:32631", transform=from_origin(500000, 4500000, 1, 1)) as dst:
            dst.write(array)
    out = tmp_path / "out"
    out.mkdir()
    return [f"IMAGE={paths['image.tif']}", f"MASK={paths['mask.tif']}", "PATCH_SIZE=8",
            f"OUTPUT={out / 'patches.gpkg'}", f"OUTPUT_CSV={out / 'patches.csv'}"], out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_cancels_the_run_like_the_cancel_button(slow_run, signum):
    params, out = slow_run
    process = subprocess.Popen([str(WRAPPER), "run", ALG, "--", *params], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    reader = Reader(process.stdout)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while "10..." not in reader.text and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)  # wait until the run is under way (past QGIS's start and the parameter checks)
        assert "10..." in reader.text, reader.text[-2000:]
        process.send_signal(signum)
        sent = time.monotonic()
        rc = process.wait(timeout=60)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(5)
    assert rc == 1, (rc, reader.text[-2000:])
    assert "cancelling the run" in reader.text and "Cancelled" in reader.text
    assert took < 10, took  # the whole run takes about 25 s here
    assert os.listdir(out) == []
