"""`pip install .` in a plain virtualenv — no QGIS, no system site packages, no GDAL bindings — gives the
`patch-balancer` command, and its demo gives the same weights as the engine inside this (QGIS) Python.

Builds the virtualenv in a temporary folder from PyPI wheels pinned by constraints-cli.txt (about 20–40 s with a
warm pip cache); the install time is printed."""
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def _source_copy(dest: Path) -> Path:
    """The files `pip install .` reads, copied so the build leaves nothing in the checkout."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "balance_core", dest / "balance_core", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture(scope="module")
def cli_venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-venv")
    venv = root / "venv"
    start = time.perf_counter()
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True)  # no --system-site-packages
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                           "-q", "-c", str(REPO / "constraints-cli.txt"), str(_source_copy(root / "src"))],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"\nvirtualenv + pip install . : {time.perf_counter() - start:.1f} s")
    return venv


def test_no_qgis_and_no_gdal_bindings_in_the_virtualenv(cli_venv):
    python = str(cli_venv / "bin" / "python")
    for module in ("qgis", "osgeo"):
        probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr
    backend = subprocess.run([python, "-c", "from balance_core.raster_io import backend_name; print(backend_name())"],
                             capture_output=True, text=True, check=True)
    assert backend.stdout.strip() == "rasterio"


def test_demo_without_qgis_gives_the_engines_weights(cli_venv, tmp_path):
    start = time.perf_counter()
    done = subprocess.run([str(cli_venv / "bin" / "patch-balancer"), "demo", str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    print(f"\npatch-balancer demo: {time.perf_counter() - start:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "\r" not in done.stderr  # no progress bar in a pipe
    assert "1 road             0.61%   25.00%    1.87%" in done.stdout  # the README's demo figures
    assert "effective sample size 112" in done.stdout
    # the same scene and YAML, run here (GDAL's bindings, numpy 1.x): the same measures and weights
    from balance_core import cli

    here = tmp_path / "here.yaml"
    here.write_text((tmp_path / "demo" / "demo.yaml").read_text().replace(
        str(tmp_path / "demo" / "demo_patches"), str(tmp_path / "here")))
    assert cli.main(["build-balanced-dataset", str(here), "--no-progress", "-q"]) == 0

    def rows(path):
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))

    venv_rows, here_rows = rows(tmp_path / "demo" / "demo_patches.csv"), rows(tmp_path / "here.csv")
    assert len(venv_rows) == len(here_rows) == 400
    for a, b in zip(venv_rows, here_rows):
        assert {k: a[k] for k in a if k.startswith("c_") or k.startswith("excl")} == \
               {k: b[k] for k in b if k.startswith("c_") or k.startswith("excl")}
        assert float(a["sampler_weight"]) == pytest.approx(float(b["sampler_weight"]), rel=1e-6, abs=1e-9)
    assert (tmp_path / "demo" / "demo_coreset.csv").exists() and (tmp_path / "demo" / "demo_patches.gpkg").exists()


def test_exit_code_for_bad_input_in_the_virtualenv(cli_venv, tmp_path):
    conf = tmp_path / "bad.yaml"
    conf.write_text("balanced_dataset:\n  mode: nonsense\n  input: {image_dir: /nowhere, mask_dir: /nowhere}\n")
    done = subprocess.run([str(cli_venv / "bin" / "patch-balancer"), "build-balanced-dataset", str(conf)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "mode" in done.stderr
