"""Plugins › Patch Balancer › Install dependencies…: the dialog runs the installer on a worker thread, shows
pip's log and the result, and can cancel; offline here (an empty folder of wheels), so pip fails fast."""
import pytest

from tests.qgis.plugin_host import load_plugin_package
from tests.qgis.qt_helpers import wait_for


@pytest.fixture
def dialog(qgis_app, tmp_path):
    load_plugin_package()
    from patch_balancer.ui.dependencies_dialog import DependenciesDialog

    dialog = DependenciesDialog(None, folder=str(tmp_path / "deps"))
    (tmp_path / "wheels").mkdir()
    dialog.wheel_dir.setText(str(tmp_path / "wheels"))
    yield dialog
    dialog.close_and_forget()


def test_lists_every_capability_with_what_is_present(dialog):
    assert set(dialog.checks) == {"balance", "uniqueness", "knn", "cluster"}
    assert "scikit-learn: present" in dialog.states["balance"].text()  # the .venv has it
    assert not dialog.checks["balance"].isChecked()  # present: not ticked for installation
    assert "distributed: present" in dialog.states["cluster"].text()


def test_installs_in_the_background_and_says_what_happened(dialog):
    for key, check in dialog.checks.items():
        check.setChecked(key == "balance")
    dialog.start()
    assert not dialog.install_button.isEnabled() and dialog.cancel_button.isEnabled()
    assert wait_for(lambda: dialog.result is not None, timeout=120)
    assert not dialog.result.ok and "pip failed" in dialog.message.text()  # no wheel in the empty folder
    log = dialog.log.toPlainText()
    assert "--target" in log and "--no-index" in log and "No matching distribution" in log
    assert dialog.install_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_nothing_ticked_says_so(dialog):
    for check in dialog.checks.values():
        check.setChecked(False)
    dialog.start()
    assert dialog.thread is None and "Tick at least one" in dialog.message.text()
