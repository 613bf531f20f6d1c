"""class_balance calibration, the best reachable balance and the frequency reference methods (no QGIS)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balance_core.best_balance import best_balance, best_balance_lp, spread
from balance_core.calibration import (
    ClassLimit,
    calibrate_class_balance,
    loss_weights,
    parse_target,
    target_shares,
)
from balance_core.errors import AllExcludedError, InvalidParameterError
from balance_core.frequency_weights import repeat_factor, sqrt_inverse_freq


def imbalance(shares):
    s = shares[shares > 0]
    return s.max() / s.min()


def scene(n=300, seed=0):
    """Background everywhere, a common 'road', a rarer 'building', a 'pond' in a handful of patches."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((n, 4))
    counts[:, 0] = 1000
    road = rng.random(n) < 0.3
    counts[road, 1] = rng.integers(5, 60, road.sum())
    building = rng.random(n) < 0.15
    counts[building, 2] = rng.integers(5, 40, building.sum())
    counts[:6, 3] = [40, 25, 60, 10, 30, 15]
    counts[:, 0] -= counts[:, 1:].sum(axis=1)
    included = np.ones(n, dtype=bool)
    included[rng.choice(n - 6, 12, replace=False) + 6] = False
    return counts, included


def assert_sampler_safe(result, included, cap, floor):
    w = result.weights
    assert abs(w.mean() - 1.0) <= 1e-12
    assert w.max() / w.mean() <= cap + 1e-9
    assert np.all(w[~included] == 0.0)
    assert np.all(w[included] >= floor)


# --- hand-computed cases -------------------------------------------------------------------------------

def test_two_classes_in_disjoint_patches_reach_the_target_exactly():
    counts = np.array([[100, 0], [100, 0], [0, 10], [0, 10]], dtype=float)
    result = calibrate_class_balance(counts, np.ones(4, dtype=bool))
    # 2·w0·100 = 2·w1·10 and 2·w0 + 2·w1 = 4 rows → w0 = 2/11, w1 = 20/11
    np.testing.assert_allclose(result.weights, [2 / 11, 2 / 11, 20 / 11, 20 / 11], rtol=1e-9)
    np.testing.assert_allclose(result.achieved_share, [0.5, 0.5], rtol=1e-9)
    assert result.reached and result.ratio == pytest.approx(1.0) and result.limits == ()
    assert "target reached" in result.message()


def test_one_rare_patch_sits_at_the_cap_and_is_named():
    counts = np.zeros((20, 2))
    counts[:, 0] = 100
    counts[0] = [90, 10]
    included = np.ones(20, dtype=bool)
    result = calibrate_class_balance(counts, included, class_values=np.array([0, 3]), tolerance=0.0)
    # The pond patch at the cap (5 draws), the 19 others share the 15 draws left: pond 50 of 2000 pixels
    assert result.weights[0] == pytest.approx(5.0, abs=1e-12)
    np.testing.assert_allclose(result.weights[1:], 15 / 19, rtol=1e-12)
    np.testing.assert_allclose(result.achieved_share, [0.975, 0.025], rtol=1e-9)
    assert not result.reached and result.best_ratio == pytest.approx(39.0, rel=1e-3)
    pond = [limit for limit in result.limits if limit.side == "low"]
    assert [(p.value, p.patches, p.drawable) for p in pond] == [(3, 1, 20)]
    assert pond[0].share_bound == pytest.approx(0.025)
    message = result.message({0: "field", 3: "pond"})
    assert "pond is in 1 of 20 drawable patches: at most 2.50 % under a 5× cap" in message
    assert "out of reach" in message
    # With the default tolerance the rare patch stays the most drawn, the ratio within 5 % of the best
    loose = calibrate_class_balance(counts, included, class_values=np.array([0, 3]))
    assert loose.weights.argmax() == 0 and loose.ratio <= 39.0 * 1.05 * (1 + 1e-9)


def test_limit_message_reads_like_the_issue():
    limit = ClassLimit(index=3, value=3, side="low", patches=6, drawable=376, share_bound=0.00504)
    assert limit.describe(5.0, {3: "pond"}) == "pond is in 6 of 376 drawable patches: at most 0.50 % under a 5× cap"
    assert "class 3 is in" in limit.describe(5.0)


def test_loss_weights_against_a_hand_computation():
    np.testing.assert_allclose(loss_weights(np.array([0.5, 0.25, 0.2, 0.05, 0.0])), [1.0, 2.0, 2.5, 10.0, 0.0])


def test_repeat_factor_against_a_hand_computation():
    counts = np.array([[10, 0, 0], [10, 5, 0], [10, 0, 0], [10, 0, 0], [0, 0, 3], [0, 0, 0], [10, 5, 5]], dtype=float)
    included = np.array([True, True, True, True, True, True, False])
    # over the 6 drawable patches: f = [4/6, 1/6, 1/6]; r = max(1, √(0.3 / f)) = [1, √1.8, √1.8]
    expected = [1.0, np.sqrt(1.8), 1.0, 1.0, np.sqrt(1.8), 1.0, 0.0]
    np.testing.assert_allclose(repeat_factor(counts, included, threshold=0.3), expected)
    np.testing.assert_allclose(repeat_factor(counts, included, threshold=0.1), [1, 1, 1, 1, 1, 1, 0])
    with pytest.raises(InvalidParameterError):
        repeat_factor(counts, included, threshold=0.0)


def test_sqrt_inverse_freq_matches_the_reference_formula():
    # The reference's own example: proportions [[0.8, 0.2], [0.3, 0.7]], f = [0.55, 0.45]
    counts = np.array([[80, 20], [30, 70], [0, 0], [50, 50]], dtype=float)
    included = np.array([True, True, True, False])
    # the unlabelled third patch counts in the mean with proportions 0: f = [1.1/3, 0.9/3]
    f = np.array([1.1, 0.9]) / 3
    expected = [np.sqrt(0.8 / f[0]) + np.sqrt(0.2 / f[1]), np.sqrt(0.3 / f[0]) + np.sqrt(0.7 / f[1]), 0.0, 0.0]
    np.testing.assert_allclose(sqrt_inverse_freq(counts, included), expected)
    two = sqrt_inverse_freq(counts[:2], np.ones(2, dtype=bool))
    np.testing.assert_allclose(two, [1.2060453783110545 + 0.6666666666666666, 0.7385489458759964 + 1.247219128924647])


# --- targets -------------------------------------------------------------------------------------------

def test_targets_uniform_sqrt_listed_and_strength():
    raw = np.array([0.64, 0.32, 0.04, 0.0])
    values = np.array([0, 1, 2, 7])
    np.testing.assert_allclose(target_shares(raw, values, "uniform"), [1 / 3, 1 / 3, 1 / 3, 0])
    np.testing.assert_allclose(target_shares(raw, values, "sqrt"), np.array([0.8, np.sqrt(0.32), 0.2, 0]) / (1 + np.sqrt(0.32)))
    # class 2 gets 0.3, the rest (0.7) goes to 0 and 1 in proportion to their raw shares (2:1)
    np.testing.assert_allclose(target_shares(raw, values, {2: 0.3}), [0.7 * 2 / 3, 0.7 / 3, 0.3, 0])
    np.testing.assert_allclose(target_shares(raw, values, "uniform", strength=0.0), raw)
    half = target_shares(raw, values, "uniform", strength=0.5)
    np.testing.assert_allclose(half[:3], np.sqrt(raw[:3]) / np.sqrt(raw[:3]).sum())
    notes = []
    target_shares(raw, values, {7: 0.5}, notes=notes)
    assert "class 7 is in no drawable patch" in notes[0]
    with pytest.raises(InvalidParameterError, match="leaving nothing"):
        target_shares(raw, values, {0: 0.6, 1: 0.5})
    with pytest.raises(InvalidParameterError, match="not a class"):
        target_shares(raw, values, {5: 0.5})
    with pytest.raises(InvalidParameterError):
        target_shares(raw, values, "balanced")


def test_parse_target():
    assert parse_target(" Uniform ") == "uniform" and parse_target("") == "uniform" and parse_target("sqrt") == "sqrt"
    assert parse_target("1:0.3, 2:0.2") == {1: 0.3, 2: 0.2}
    with pytest.raises(InvalidParameterError):
        parse_target("1=0.3")


# --- guarantees ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("target,strength,cap", [("uniform", 1.0, 5.0), ("sqrt", 1.0, 3.0), ({3: 0.2}, 0.7, 2.0)])
def test_cap_floor_and_zeros_hold_exactly(target, strength, cap):
    counts, included = scene()
    result = calibrate_class_balance(counts, included, target=target, strength=strength, max_oversampling=cap, floor=0.01)
    assert_sampler_safe(result, included, cap, 0.01)
    assert result.ratio <= result.raw_ratio * (1 + 1e-9)


def test_deterministic():
    counts, included = scene(seed=3)
    base = np.random.default_rng(1).random(len(counts)) + 0.1
    first = calibrate_class_balance(counts, included, base=base)
    second = calibrate_class_balance(counts, included, base=base)
    np.testing.assert_array_equal(first.weights, second.weights)
    assert first.message() == second.message()


def test_strength_zero_keeps_the_raw_shares():
    counts, included = scene()
    result = calibrate_class_balance(counts, included, strength=0.0)
    np.testing.assert_allclose(result.achieved_share, result.raw_share, rtol=1e-9)
    np.testing.assert_allclose(result.weights[included], len(counts) / included.sum(), rtol=1e-9)
    assert result.reached


def test_unreachable_target_comes_within_the_tolerance_of_the_best():
    counts, included = scene()
    best = best_balance_lp(counts, included).ratio
    result = calibrate_class_balance(counts, included, tolerance=0.05)
    assert not result.reached
    assert best * (1 - 1e-9) <= result.best_ratio <= best * 1.01
    assert imbalance(result.achieved_share) <= best * 1.05 * (1 + 1e-9)
    assert [limit.value for limit in result.limits if limit.side == "low"] == [3]
    assert "out of reach" in result.message()


def many_classes(n=3000, classes=10, seed=1):
    """Background everywhere, classes present in ever fewer patches (the rarest in a few dozen)."""
    rng = np.random.default_rng(seed)
    presence = np.concatenate([[1.0], np.geomspace(0.6, 0.004, classes - 1)])
    amount = rng.gamma(0.6, 1.0, size=(n, classes)) * (rng.random((n, classes)) < presence)
    amount[:, 0] += 0.5
    counts = np.floor(amount / amount.sum(axis=1, keepdims=True) * 4096)
    return counts, rng.random(n) > 0.03


def test_many_classes_sit_in_the_band_the_tolerance_allows():
    counts, included = many_classes()
    result = calibrate_class_balance(counts, included, tolerance=0.05)
    exact = best_balance_lp(counts, included).ratio
    # the optimum is pinned down to 1 %, the shares stay within the 5 % tolerance of the true best
    assert exact * (1 - 1e-9) <= result.best_ratio <= exact * 1.01
    assert exact <= result.ratio <= exact * 1.05 * (1 + 1e-9)
    assert_sampler_safe(result, included, 5.0, 1e-3)
    # the band costs less effective sample size than the optimum's own (bang-bang) weights
    optimum = best_balance(counts, included).weights
    assert result.effective_sample_size > 1.1 * optimum.sum() ** 2 / np.sum(optimum**2)


def test_more_strength_never_lowers_a_rare_class():
    """Past the reachable strength the shares saturate instead of falling back (monotone in strength)."""
    counts, included = scene()
    shares = [calibrate_class_balance(counts, included, strength=s).achieved_share for s in (0.2, 0.4, 0.7, 1.0)]
    for before, after in zip(shares, shares[1:]):
        assert np.all(after[1:] >= before[1:] * (1 - 1e-3))


def test_non_limiting_classes_follow_the_geodesic_or_stay_near_the_base():
    counts, included = scene()
    geodesic = calibrate_class_balance(counts, included)
    base = calibrate_class_balance(counts, included, others="base")
    for result in (geodesic, base):
        assert_sampler_safe(result, included, 5.0, 1e-3)
        assert result.ratio <= result.best_ratio * 1.05 * (1 + 1e-9)
    # road (1) does not limit the balance: it moves towards its target with the geodesic, stays put
    # near the base weights' share otherwise, which repeats fewer patches
    assert geodesic.achieved_share[1] > 1.5 * base.achieved_share[1]
    assert base.achieved_share[1] < 1.2 * base.raw_share[1]
    assert base.effective_sample_size > geodesic.effective_sample_size
    with pytest.raises(InvalidParameterError):
        calibrate_class_balance(counts, included, others="nearest")


def test_uniqueness_base_changes_which_patches_carry_a_class_not_the_shares():
    rng = np.random.default_rng(5)
    counts = np.zeros((60, 3))
    counts[:10, 1] = 1000  # pure class 1
    counts[10:20, 2] = rng.integers(600, 1000, 10)  # class 2 on background
    counts[10:, 0] = 1000 - counts[10:, 2]
    included = np.ones(60, dtype=bool)
    base = rng.random(60) + 0.05
    flat = calibrate_class_balance(counts, included)
    unique = calibrate_class_balance(counts, included, base=base)
    assert flat.reached and unique.reached
    np.testing.assert_allclose(unique.achieved_share, flat.achieved_share, rtol=1e-8)
    np.testing.assert_allclose(unique.achieved_share, [1 / 3] * 3, rtol=1e-8)
    assert np.abs(unique.weights - flat.weights).max() > 0.1
    # within the background-only patches the more unique ones are drawn more
    only_background = np.arange(20, 60)
    rank = np.corrcoef(np.argsort(np.argsort(base[only_background])),
                       np.argsort(np.argsort(unique.weights[only_background])))[0, 1]
    assert rank > 0.99


def test_cap_that_cannot_be_met_gives_equal_weights():
    counts, _ = scene(n=20)
    included = np.zeros(20, dtype=bool)
    included[:3] = True
    result = calibrate_class_balance(counts, included, max_oversampling=5.0)
    assert not result.cap_met and result.best_ratio == pytest.approx(result.raw_ratio)
    np.testing.assert_allclose(result.weights[included], 20 / 3)
    assert "cannot be met" in result.message()


def test_single_class_and_errors():
    counts = np.array([[5.0, 0], [3.0, 0], [0, 0]])
    result = calibrate_class_balance(counts, np.ones(3, dtype=bool))
    assert result.reached and result.weights.mean() == pytest.approx(1.0)
    with pytest.raises(AllExcludedError):
        calibrate_class_balance(counts, np.zeros(3, dtype=bool))
    with pytest.raises(InvalidParameterError):
        calibrate_class_balance(counts, np.ones(3, dtype=bool), base=np.array([1.0, 0.0, 1.0]))
    with pytest.raises(InvalidParameterError):
        calibrate_class_balance(counts, np.ones(3, dtype=bool), strength=1.5)


# --- the best reachable balance ------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_column_generation_finds_the_full_lp_optimum(seed):
    counts, included = scene(seed=seed)
    for target in (None, np.array([0.7, 0.1, 0.1, 0.1])):
        fast = best_balance(counts, included, target=target)
        full = best_balance_lp(counts, included, target=target)
        assert fast.ratio == pytest.approx(full.ratio, rel=1e-7)
        w = fast.weights
        assert abs(w.mean() - 1) <= 1e-9 and w.max() <= 5.0 + 1e-9 and np.all(w[~included] == 0)
        t = np.full(4, 0.25) if target is None else target
        assert spread(w @ counts / (w @ counts).sum(), t) == pytest.approx(fast.ratio, rel=1e-6)


# --- property ------------------------------------------------------------------------------------------

compositions = st.integers(min_value=2, max_value=5).flatmap(
    lambda k: st.lists(st.lists(st.integers(min_value=0, max_value=400), min_size=k, max_size=k),
                       min_size=3, max_size=40)
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(rows=compositions, cap=st.sampled_from([1.5, 3.0, 5.0]), target=st.sampled_from(["uniform", "sqrt"]),
       strength=st.sampled_from([0.5, 1.0]), excluded_every=st.integers(min_value=0, max_value=4))
def test_property_never_further_from_the_target_than_raw_and_never_over_the_cap(rows, cap, target, strength,
                                                                                  excluded_every):
    counts = np.array(rows, dtype=float)
    included = np.ones(len(counts), dtype=bool)
    if excluded_every:
        included[::excluded_every + 1] = False
    if not included.any():
        return
    result = calibrate_class_balance(counts, included, target=target, strength=strength, max_oversampling=cap)
    w = result.weights
    assert np.all(np.isfinite(w)) and abs(w.mean() - 1.0) <= 1e-12
    assert np.all(w[~included] == 0) and np.all(w[included] >= 1e-3 * (1 - 1e-12))
    if result.cap_met:
        assert w.max() / w.mean() <= cap + 1e-9
    assert result.ratio <= result.raw_ratio * (1 + 1e-8)
