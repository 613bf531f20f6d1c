"""The dependency installer's core (what the dialog runs), without the package index: commands, folder, offline,
cancel. tests/install/test_stock_qgis.py installs from the index for real."""
import sys

import numpy as np
import pytest

import dependency_installer as installer
from tests.install.stock import QGIS_PYTHON


def test_folder_is_per_profile_and_python_version(tmp_path, monkeypatch):
    monkeypatch.delenv(installer.ENV_FOLDER, raising=False)
    folder = installer.folder_for(str(tmp_path / "profiles" / "default"))
    assert folder == str(tmp_path / "profiles" / "default" / "patch_balancer" / "site-packages" /
                         f"python{sys.version_info[0]}.{sys.version_info[1]}")
    monkeypatch.setenv(installer.ENV_FOLDER, str(tmp_path / "admin"))
    assert installer.folder_for("ignored") == str(tmp_path / "admin")


def test_activate_puts_the_folder_last_on_the_path(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert not installer.activate(str(tmp_path / "missing"))
    assert installer.activate(str(tmp_path)) and sys.path[-1] == str(tmp_path)  # QGIS's own packages win
    installer.activate(str(tmp_path))
    assert sys.path.count(str(tmp_path)) == 1


def test_commands_pin_numpy_target_the_folder_and_take_wheels_only(tmp_path):
    commands = installer.pip_commands(["balance", "knn"], str(tmp_path), "c.txt", "python3")
    assert commands[0][:4] == ["python3", "-m", "pip", "install"]
    for command in commands:
        assert command[command.index("--target") + 1] == str(tmp_path)
        assert command[command.index("--constraint") + 1] == "c.txt"
        assert command[command.index("--only-binary") + 1] == ":all:"  # never a compiler on a user's machine
    assert commands[0][-1].startswith("scikit-learn")
    assert [c[-1] for c in commands[1:]] == ["hnswlib", "faiss-cpu"]  # each where a wheel exists, alone
    offline = installer.pip_commands(["balance"], str(tmp_path), "c.txt", "python3", wheel_dir="/wheels")[0]
    assert "--no-index" in offline and offline[offline.index("--find-links") + 1] == "/wheels"
    assert installer.numpy_pin() == f"numpy=={np.__version__}\n"


def test_unreachable_index_is_recognised_and_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there: as offline
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    result = installer.install(["balance"], str(tmp_path / "deps"), python=QGIS_PYTHON)
    assert not result.ok and result.offline, "\n".join(result.log[-20:])
    assert "cannot be reached" in result.message and "pip download" in result.message
    assert "From a folder of wheels" in result.message


def test_cancel_ends_pip(tmp_path):
    lines = []
    result = installer.install(["balance"], str(tmp_path / "deps"), log=lines.append, cancelled=lambda: True,
                               python=QGIS_PYTHON)
    assert result.cancelled and not result.ok and "Cancelled" in result.message
    assert lines[0].startswith("$ ") and "Cancelled." in lines


def test_a_missing_interpreter_is_explained(monkeypatch, tmp_path):
    monkeypatch.setattr(installer, "_same_python", lambda exe: False)
    result = installer.install(["balance"], str(tmp_path / "deps"))
    assert not result.ok and "Cannot find QGIS's Python interpreter" in result.message


def test_status_reports_each_group(tmp_path):
    groups = {s.group.key: s for s in installer.status(str(tmp_path))}
    assert set(groups) == {"balance", "uniqueness", "knn", "cluster"}
    assert set(groups["balance"].present) == {"scipy", "sklearn"}
    assert groups["cluster"].present == {"distributed": True} and not groups["cluster"].group.offered
    assert not any(groups["balance"].in_folder.values())  # here they come from the .venv, not the folder


@pytest.mark.parametrize("name", ["numpy", "numpy-1.24.2.dist-info", "numpy.libs"])
def test_numpy_is_left_to_qgis(tmp_path, name):
    (tmp_path / name).mkdir()
    (tmp_path / "scipy").mkdir()
    installer._drop_shipped(str(tmp_path), lambda line: None)
    assert not (tmp_path / name).exists() and (tmp_path / "scipy").exists()
