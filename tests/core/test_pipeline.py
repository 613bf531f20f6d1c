"""The whole engine on real imagery with real labels (tests/data)."""
import subprocess
import sys

import numpy as np
import pytest

from balance_core.class_balance import class_balance
from balance_core.config import BalanceConfig
from balance_core.errors import AllExcludedError
from balance_core.pipeline import build_balanced_dataset
from balance_core.progress import NullProgress

pytestmark = pytest.mark.usefixtures("raster_backend")  # every test over both raster_io adapters


def test_lyon_three_classes(data_dir):
    table, pair = build_balanced_dataset([(str(data_dir / "lyon/image_rgb.tif"), str(data_dir / "lyon/labels.tif"))],
                                         BalanceConfig(patch_size=64, method="composition_only"))
    assert len(table) == 144 and table.class_values.tolist() == [0, 1, 2]
    w = table["sampler_weight"]
    included = ~table["excluded"]
    assert (w[included] > 0).all() and (w[~included] == 0).all() and np.isfinite(w).all()
    for cluster in set(table["freq_cluster_id"][included].tolist()):  # ties: one weight per cluster
        assert len(set(w[table["freq_cluster_id"] == cluster].tolist())) == 1
    smallest = table["freq_cluster_size"][included].min()
    assert w[table["freq_cluster_size"] == smallest].max() == w.max()


def test_quebec_nodata_trap_excludes_everything_until_ignored(data_dir):
    image, mask = str(data_dir / "quebec/tiled_image_1.tif"), str(data_dir / "quebec/tiled_label_1.tif")
    with pytest.raises(AllExcludedError, match="border_nodata"):
        build_balanced_dataset([(image, mask)], BalanceConfig(patch_size=64))
    table, _ = build_balanced_dataset([(image, mask)], BalanceConfig(patch_size=64, ignore_band_nodata=True))
    assert table.class_values.tolist() == [0, 1]
    unset, _ = build_balanced_dataset([(image, str(data_dir / "quebec/tiled_label_1_nodata_unset.tif"))],
                                      BalanceConfig(patch_size=64))
    np.testing.assert_array_equal(table["sampler_weight"], unset["sampler_weight"])


def test_rare_building_class_gains_share_under_weights(data_dir):
    table, _ = build_balanced_dataset([(str(data_dir / "atlanta/image_pan.tif"), str(data_dir / "atlanta/labels.tif"))],
                                      BalanceConfig(patch_size=64))
    balance = class_balance(table.class_values, table.class_counts, table["sampler_weight"])
    assert balance.raw_share[1] == pytest.approx(0.0418, abs=0.005)
    assert balance.weighted_share[1] > balance.raw_share[1]


def test_deterministic(data_dir):
    args = ([(str(data_dir / "lyon/image_rgb.tif"), str(data_dir / "lyon/labels.tif"))], BalanceConfig(patch_size=32, seed=3))
    a, _ = build_balanced_dataset(*args)
    b, _ = build_balanced_dataset(*args)
    np.testing.assert_array_equal(a["sampler_weight"], b["sampler_weight"])


def test_progress_reaches_one(data_dir):
    seen = []

    class Recorder(NullProgress):
        def set_fraction(self, fraction):
            seen.append(fraction)

    build_balanced_dataset([(str(data_dir / "lyon/image_rgb.tif"), str(data_dir / "lyon/labels.tif"))],
                           BalanceConfig(patch_size=64), Recorder())
    assert seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen) and seen == sorted(seen)


def test_engine_imports_nothing_of_qgis_or_qt():
    code = ("import sys, balance_core, balance_core.pipeline, balance_core.writers, balance_core.class_balance;"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('qgis', 'PyQt5', 'PyQt6', 'processing')];"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
