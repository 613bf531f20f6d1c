"""The plugin on a stock QGIS: only what QGIS ships (numpy, GDAL's bindings, PyQt), a fresh profile.

Then the dependency installer (the code behind Plugins › Patch Balancer › Install dependencies…) installs the
'balance' group from the package index into a folder, and the default Build balanced dataset runs.
"""
import os

import pytest

from tests.install.stock import QGIS_PYTHON, REPO, enable_plugin, probe, run_build

MESSAGE_NAMES_MENU = "Plugins › Patch Balancer › Install dependencies…"


@pytest.fixture(scope="module")
def stock_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("stock")
    plugins = root / "plugins"
    plugins.mkdir()
    (plugins / "patch_balancer").symlink_to(REPO)
    out = root / "out"
    out.mkdir()
    return probe(plugins, root / "profile", out)


def test_the_plugin_loads_registers_and_opens_its_dock(stock_report):
    r = stock_report
    assert r["loaded"] and r["started"], r
    assert r["heavy_modules_imported"] == []  # nothing beyond QGIS's own packages is even tried at load
    assert r["provider"] and "patchbalancer:buildbalanceddataset" in r["algorithms"]
    assert all(ok for ok, _ in r["can_execute"].values()), r["can_execute"]
    assert r["dock_visible"]
    assert r["provider_after_unload"] is False


def test_the_dependency_dialog_shows_what_is_missing(stock_report):
    dialog = stock_report["dependencies_dialog"]
    assert dialog["balance"] == "scipy: missing; scikit-learn: missing"
    assert "torch: missing" in dialog["uniqueness"]
    assert set(stock_report["dependencies_ticked"]) == {"balance", "uniqueness", "knn"}  # not "cluster": few need it
    assert dialog["cluster"] == "distributed: missing"


def test_masks_only_runs_with_a_method_that_needs_nothing_more(stock_report):
    runs = stock_report["runs"]
    assert runs["masks_repeat_factor"] == {"ok": True, "patches": 144, "clusters": 0, "written": True}
    assert runs["both_descriptor"]["ok"] and runs["both_descriptor"]["patches"] == 144


@pytest.mark.parametrize("case, names", [
    ("masks_default", ["scipy (for sampling method class_balance)", "SAMPLING_METHOD repeat_factor"]),
    ("masks_rank_composition", ["scikit-learn (for sampling method composition_only"]),
    ("both_dinov2", ["torch (for embedder dinov2-small)", "transformers", "EMBEDDER descriptor"]),
])
def test_what_cannot_run_says_what_to_install_and_writes_nothing(stock_report, case, names):
    run = stock_report["runs"][case]
    assert not run["ok"] and "traceback" not in run, run
    assert MESSAGE_NAMES_MENU in run["message"] and "python -m pip install" in run["message"]
    for name in names:
        assert name in run["message"]
    assert not run["written"]


def test_installer_installs_scikit_learn_and_the_default_build_runs(tmp_path, data_dir):
    """The installer's non-GUI core (what the dialog runs) installs 'balance' from the package index into a
    folder; qgis_process in a fresh stock profile then finds it there and runs class_balance + clusters."""
    import dependency_installer as installer

    folder = tmp_path / "deps"
    result = installer.install(["balance"], str(folder), python=QGIS_PYTHON)
    if result.offline and not os.environ.get("CI"):
        pytest.skip("the package index cannot be reached from here: " + result.message)
    assert result.ok, result.message + "\n" + "\n".join(result.log[-30:])
    names = {p.name.split("-")[0].lower() for p in folder.iterdir()}
    assert {"sklearn", "scipy"} <= names and "numpy" not in names  # numpy stays QGIS's
    assert any(line.startswith("$ ") and "--target" in line and "--constraint" in line for line in result.log)

    profile, out = tmp_path / "profile", tmp_path / "out"
    plugins = profile / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "patch_balancer").symlink_to(REPO)
    out.mkdir()
    enable_plugin(profile)
    env = dict(allow=[folder], PATCH_BALANCER_DEPENDENCIES=folder)
    results = run_build(profile, data_dir, out, **env)  # default: class_balance, clusters
    assert results["PATCH_COUNT"] == 144 and results["CLUSTER_COUNT"] > 0
    assert (out / "patches.csv").exists()
