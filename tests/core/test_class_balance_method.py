"""class_balance as the pipeline runs it: the default method, its cap, its log, the comparison methods."""
import numpy as np
import pytest

from balance_core.best_balance import best_balance
from balance_core.class_balance import class_balance
from balance_core.config import BalanceConfig
from balance_core.errors import InvalidParameterError
from balance_core.oversampling import cap_oversampling
from balance_core.pipeline import build_balanced_dataset
from balance_core.table import PatchTable
from balance_core.weights import compute_weights


class Log:
    def __init__(self):
        self.infos, self.warnings = [], []

    def set_fraction(self, fraction):
        pass

    def cancelled(self):
        return False

    def info(self, message):
        self.infos.append(message)

    def warning(self, message):
        self.warnings.append(message)


@pytest.fixture(scope="module")
def atlanta(data_dir):
    pair = (str(data_dir / "atlanta/image_pan.tif"), str(data_dir / "atlanta/labels.tif"))
    log = Log()
    table, _ = build_balanced_dataset([pair], BalanceConfig(patch_size=64), log, class_names={1: "building"})
    return table, log


def test_default_class_balance_brings_atlanta_near_the_best_reachable_balance(atlanta):
    table, _ = atlanta
    w, excluded = table["sampler_weight"], table["excluded"]
    assert table.calibration is not None
    assert np.isclose(w.mean(), 1.0) and w.max() <= 5.0 + 1e-9  # the default cap of class_balance: 5
    assert (w[excluded] == 0).all() and (w[~excluded] > 0).all()
    balance = class_balance(table.class_values, table.class_counts, w, excluded)
    best = best_balance(table.class_counts, ~excluded, max_oversampling=5.0).ratio
    assert balance.raw_imbalance > 20  # 22.9 : 1 raw
    assert balance.weighted_imbalance <= 1.1 * best
    np.testing.assert_allclose(balance.weighted_share, table.calibration.achieved_share[balance.weighted_share > -1],
                               rtol=1e-9)


def test_the_log_says_how_far_the_balance_went_and_names_the_class(atlanta):
    _, log = atlanta
    text = " ".join(log.infos + log.warnings)
    assert "Class balance" in text and "imbalance" in text
    assert "building" in text  # the class that limits the balance, by its name


def test_a_cap_given_is_kept(data_dir):
    pair = (str(data_dir / "atlanta/image_pan.tif"), str(data_dir / "atlanta/labels.tif"))
    table, _ = build_balanced_dataset([pair], BalanceConfig(patch_size=64, max_oversampling=2))
    assert table["sampler_weight"].max() <= 2 + 1e-9


def counts_table():
    counts = np.array([[100, 0], [100, 0], [100, 0], [90, 10], [0, 0]], dtype=float)
    return PatchTable({"excluded": np.array([False] * 4 + [True])}, np.array([0, 1]), counts)


@pytest.mark.parametrize("method, expected", [
    # f(1) = 1/4 of drawable patches: r = max(1, √(0.3 / 0.25)); the others are repeated once
    ("repeat_factor", [1, 1, 1, np.sqrt(0.3 / 0.25)]),
    # p = (1,0),(1,0),(1,0),(.9,.1); f = (.975, .025): Σ √(p/f)
    ("sqrt_inverse_freq", [np.sqrt(1 / 0.975)] * 3 + [np.sqrt(0.9 / 0.975) + np.sqrt(0.1 / 0.025)]),
])
def test_comparison_methods_then_the_cap(method, expected):
    config = BalanceConfig(method=method, max_oversampling=1.5)
    w = compute_weights(counts_table(), config)["sampler_weight"]
    assert w[4] == 0 and w.max() <= 1.5 + 1e-12 and np.isclose(w.mean(), 1.0)
    # the raw weights by hand, then the cap's water filling: the largest at 1.5, the rest scaled to mean 1
    np.testing.assert_allclose(cap_oversampling(np.append(expected, 0.0), 1.5)[0], w, rtol=1e-12)
    assert w[3] == w.max() and np.allclose(w[:3], w[0])


def test_settings_are_checked():
    with pytest.raises(InvalidParameterError, match="Balance strength"):
        BalanceConfig(balance_strength=1.5).validate()
    with pytest.raises(InvalidParameterError, match="target"):
        BalanceConfig(target="1=0.3").validate()
    with pytest.raises(InvalidParameterError, match="repeat-factor"):
        BalanceConfig(method="repeat_factor", rfs_threshold=0).validate()
    assert BalanceConfig().oversampling_cap == 5 and BalanceConfig(method="composition_only").oversampling_cap is None
