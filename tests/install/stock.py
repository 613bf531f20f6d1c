"""Running QGIS as a user's stock install has it: QGIS's own Python (not the .venv), a fresh profile, and
tests/stock_qgis/sitecustomize.py hiding every package QGIS does not ship."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STOCK = REPO / "tests" / "stock_qgis"
# What a stock QGIS lacks (on Windows and macOS none of these ship with QGIS; Debian's QGIS does not pull them)
NOT_SHIPPED = ("scipy", "sklearn", "rasterio", "affine", "torch", "transformers", "pyarrow", "hnswlib", "faiss",
               "joblib", "threadpoolctl", "pytest_qgis")
QGIS_PYTHON = os.path.realpath(sys.executable)  # the .venv's interpreter is a link to QGIS's (the system) Python


def venv_site_packages() -> str:
    """The .venv's packages (scikit-learn, torch, …): a user who installed every optional package."""
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def stock_env(profile: Path, allow=(), block=NOT_SHIPPED, path=(), **extra) -> dict:
    runtime = profile / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PYTEST"))}
    env.update(QGIS_CUSTOM_CONFIG_PATH=str(profile), QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime),
               PYTHONPATH=os.pathsep.join([str(STOCK), *map(str, path)]), PYTHONNOUSERSITE="1",
               STOCK_QGIS_BLOCK=",".join(block), STOCK_QGIS_ALLOW=os.pathsep.join(str(a) for a in allow))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def probe(plugins_dir: Path, profile: Path, out: Path, **extra) -> dict:
    """tests/stock_qgis/probe.py's report: plugin loaded by qgis.utils, provider, dock, dialog, runs."""
    done = subprocess.run([QGIS_PYTHON, str(STOCK / "probe.py"), str(plugins_dir), str(REPO / "tests" / "data"),
                           str(out)], cwd=STOCK, env=stock_env(profile, **extra), capture_output=True, text=True,
                          timeout=600)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("PROBE-REPORT ")), None)
    assert line, f"probe failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return json.loads(line[len("PROBE-REPORT "):])


def qgis_process(profile: Path, *args, **env) -> subprocess.CompletedProcess:
    """qgis_process.bin (Debian's wrapper is broken on 3.22) with QGIS's Python, in this profile."""
    return subprocess.run(["qgis_process.bin", *args], env=stock_env(profile, **env), capture_output=True,
                          text=True, timeout=600)


def enable_plugin(profile: Path) -> None:
    done = qgis_process(profile, "plugins", "enable", "patch_balancer")
    listed = qgis_process(profile, "plugins")
    assert "patch_balancer" in listed.stdout, done.stdout + done.stderr + listed.stdout + listed.stderr


def install_zip(zip_path: Path, profile: Path) -> dict:
    """tests/stock_qgis/install_zip.py's report: the ZIP installed by QGIS's own plugin installer."""
    done = subprocess.run([QGIS_PYTHON, str(STOCK / "install_zip.py"), str(zip_path)], cwd=STOCK,
                          env=stock_env(profile), capture_output=True, text=True, timeout=600)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("INSTALL-REPORT ")), None)
    assert line, f"install failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return json.loads(line[len("INSTALL-REPORT "):])


def run_build(profile: Path, data_dir: Path, out: Path, *params, **env) -> dict:
    """Build balanced dataset through qgis_process; its JSON results (or an AssertionError with the log)."""
    done = qgis_process(profile, "--json", "run", "patchbalancer:buildbalanceddataset", "--",
                        f"IMAGE={data_dir / 'lyon' / 'image_rgb.tif'}", f"MASK={data_dir / 'lyon' / 'labels.tif'}",
                        "PATCH_SIZE=64", f"OUTPUT={out / 'patches.gpkg'}", f"OUTPUT_CSV={out / 'patches.csv'}",
                        *params, **env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return json.loads(done.stdout)["results"]
