"""`make package`'s ZIP: the plugin repository's rules, Bandit, and an install through QGIS's own plugin
installer into a fresh profile, then Build balanced dataset through qgis_process."""
import sqlite3
import zipfile

import pytest

from balance_core.config import SAMPLING_METHODS
from scripts.check_package import bandit, problems_of
from scripts.package import build, version
from tests.install.stock import install_zip, run_build, venv_site_packages


@pytest.fixture(scope="module")
def package_zip(tmp_path_factory):
    return build(tmp_path_factory.mktemp("dist"))


def test_the_zip_follows_the_plugin_repository_rules(package_zip):
    assert package_zip.name == f"patch_balancer-{version()}.zip"
    assert problems_of(package_zip) == []
    with zipfile.ZipFile(package_zip) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
    assert {n.split("/")[0] for n in names} == {"patch_balancer"}
    inner = {n.split("/", 1)[1] for n in names}
    assert {"__init__.py", "plugin.py", "metadata.txt", "LICENSE", "icon.svg", "dependency_installer.py",
            "balance_core/raster_io.py", "ui/dependencies_dialog.py", "models/patch_balancer_chain.model3"} <= inner
    assert not [n for n in inner if n.split("/")[0] in ("tests", "bench", "docs", "scripts", ".ci")]
    assert not [n for n in inner if n.endswith((".pyc", ".tif", ".png")) and not n.startswith("processing_provider/")]
    assert package_zip.stat().st_size < 2_000_000  # the plugin, not its test rasters (about 0.25 MB)


def test_the_same_sources_give_the_same_zip(package_zip, tmp_path):
    assert build(tmp_path).read_bytes() == package_zip.read_bytes()


def test_bandit_finds_nothing_blocking(package_zip):
    blocking, _low = bandit(package_zip)
    assert blocking == [], [f"{r['test_id']} {r['filename']}:{r['line_number']} {r['issue_text']}" for r in blocking]


def test_zip_installed_by_qgis_plugin_installer_runs_in_qgis_process(package_zip, tmp_path, data_dir):
    """Plugins › Manage and Install Plugins › Install from ZIP (pyplugin_installer), in a fresh profile of a stock
    QGIS: the plugin is unpacked, enabled and started; then qgis_process runs it from that profile, on the stock
    QGIS (a method that needs nothing more) and with every optional package (the default method)."""
    profile = tmp_path / "profile"
    report = install_zip(package_zip, profile)
    assert report["enabled"] and report["started"] and report["provider"], report
    assert "pushMessage: <b>Plugin installed successfully</b>" in report["messages"]
    assert report["errors"] == {"patch_balancer": ""}
    assert "tests" not in report["installed_files"] and "LICENSE" in report["installed_files"]

    stock_out, full_out = tmp_path / "stock", tmp_path / "full"
    stock_out.mkdir(), full_out.mkdir()
    repeat_factor = 1 + SAMPLING_METHODS.index("repeat_factor")  # needs numpy and GDAL only
    stock = run_build(profile, data_dir, stock_out, f"SAMPLING_METHOD={repeat_factor}")
    assert stock["PATCH_COUNT"] == 144
    full = run_build(profile, data_dir, full_out, block=(), path=[venv_site_packages()])  # class_balance
    assert full["PATCH_COUNT"] == 144 and full["CLUSTER_COUNT"] > 0
    with sqlite3.connect(full_out / "patches.gpkg") as db:
        assert db.execute("SELECT count(*) FROM layer_styles").fetchone()[0] >= 1  # styled from the ZIP's code
