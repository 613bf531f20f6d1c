"""Qt6-ready (QGIS 4): every shipped module imports under PyQt6 with strict stand-ins for qgis.core/gui, the dock,
the chart and the dependencies dialog are built, initGui/unload run (tests/install/qt6_harness.py); the sources
use scoped enums and exec() that exist in PyQt6 and in QGIS 3's PyQt5 (tests/install/qt6_static.py). metadata's
supportsQt6 is claimed only while these pass."""
import configparser
import json
import subprocess
import sys

import pytest

from scripts.package import runtime_files
from tests.install.stock import QGIS_PYTHON, REPO

HERE = REPO / "tests" / "install"


@pytest.fixture(scope="module")
def qt6_report(tmp_path_factory):
    names = tmp_path_factory.mktemp("qt6") / "qgis_names.json"
    with open(names, "w") as fh:  # the allow-list: what the real qgis.core / qgis.gui of this QGIS export
        done = subprocess.run([QGIS_PYTHON, str(HERE / "qgis_names.py")], stdout=fh, stderr=subprocess.PIPE,
                              text=True, timeout=300, env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, str(HERE / "qt6_harness.py"), str(names)], capture_output=True, text=True,
                          timeout=300, cwd=names.parent)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("QT6-REPORT ")), None)
    assert line, f"harness failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return json.loads(line[len("QT6-REPORT "):])


def qt6_passes(report) -> bool:
    return (not report["failed"] and not report["slot_errors"] and all(
        report[step] == "ok" for step in ("canary", "dock", "chart", "dependencies_dialog", "init_gui_unload")))


def test_the_stand_ins_are_strict(qt6_report):
    assert qt6_report["canary"] == "ok", qt6_report["canary"]
    assert all(qt6_report["canaries"].values()), qt6_report["canaries"]


def test_every_module_imports_under_pyqt6(qt6_report):
    assert qt6_report["qt"].startswith("6.")
    assert qt6_report["failed"] == {}, "\n".join(v for v in qt6_report["failed"].values())
    assert len(qt6_report["imported"]) >= 40


@pytest.mark.parametrize("step", ["dock", "chart", "dependencies_dialog", "init_gui_unload"])
def test_widgets_build_and_the_plugin_starts_and_unloads_under_pyqt6(qt6_report, step):
    assert qt6_report[step] == "ok", qt6_report[step]
    assert qt6_report["slot_errors"] == [], "\n".join(qt6_report["slot_errors"])


def shipped_modules():
    return [name for name in runtime_files() if name.endswith(".py")]


@pytest.mark.parametrize("python, binding", [(sys.executable, "PyQt6"), (QGIS_PYTHON, "PyQt5")])
def test_sources_use_enum_spellings_and_exec_that_both_bindings_have(python, binding):
    done = subprocess.run([python, str(HERE / "qt6_static.py"), f"--binding={binding}", *shipped_modules()],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_supports_qt6_is_claimed_only_while_the_pyqt6_test_passes(qt6_report):
    meta = configparser.ConfigParser()
    meta.optionxform = str
    meta.read(REPO / "metadata.txt", encoding="utf-8")
    if meta["general"].get("supportsQt6", "False").strip().lower() in ("true", "yes", "1"):
        assert qt6_passes(qt6_report), "metadata.txt claims supportsQt6 but the PyQt6 test fails"
