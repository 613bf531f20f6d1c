"""`styling.weight_breaks` drops candidate breaks through a heap of merged class sizes: the same breaks as the
loop it replaced (kept here), which recounted every class and scanned every break with a lambda per break
dropped (2.4 million calls, seconds, at 155,000 patches with a couple of thousand weight levels)."""
import numpy as np
import pytest

from tests.qgis.plugin_host import load_plugin_package

load_plugin_package()

from patch_balancer.processing_provider import styling
from patch_balancer.processing_provider.styling import (
    MAX_CLASSES,
    _between,
    _ladder,
    _level_gaps,
    weight_breaks,
    weight_levels,
)


def reference_weight_breaks(weights, classes=MAX_CLASSES):
    """weight_breaks as it was (one searchsorted and one min over the breaks per break dropped)."""
    values = np.asarray(weights, dtype=float)
    values = np.sort(values[np.isfinite(values) & (values > 0)])
    levels = weight_levels(values)
    if not len(levels):
        return []
    low, high = float(values[0]), float(values[-1])
    gaps = _level_gaps(values)
    if len(levels) <= classes:
        edges = [low] + [_between(a, b) for a, b in gaps] + [high]
        return list(zip(edges[:-1], edges[1:]))
    candidates = {_between(a, b): 0 for a, b in gaps}
    for value in _ladder(low, high, (1, 1.5, 2, 3, 5, 7)):
        candidates[value] = 1
    for value in _ladder(low, high, (1, 2, 5)):
        candidates[value] = 2
    breaks = sorted(b for b in candidates if low < b < high)

    def sizes(cuts):
        return np.diff(np.concatenate([[0], np.searchsorted(values, cuts, side="right"), [len(values)]]))

    while breaks and (len(breaks) >= classes or (sizes(breaks) == 0).any()):
        n = sizes(breaks)
        empty = np.flatnonzero(n == 0)
        if len(empty):
            i = min(int(empty[0]), len(breaks) - 1)
        else:
            i = min(range(len(breaks)), key=lambda j: (candidates[breaks[j]], n[j] + n[j + 1]))
        del breaks[i]
    edges = [low] + breaks + [high]
    return list(zip(edges[:-1], edges[1:]))


def _same(weights, classes=MAX_CLASSES):
    expected, got = reference_weight_breaks(weights, classes), weight_breaks(weights, classes)
    assert got == expected  # exact floats, same classes
    assert [type(x) for pair in got for x in pair] == [float] * (2 * len(got))
    return got


def _cases():
    rng = np.random.default_rng(18)
    cases = {
        "empty": np.zeros(0), "all zero": np.zeros(50), "one": np.array([1.0]), "all equal": np.full(1000, 0.37),
        "nan and inf": np.array([np.nan, np.inf, -np.inf, 0.0, -1.0, 2.0, 2.0, 3.0, np.nan]),
        "only nan": np.full(5, np.nan),
        "huge range": np.concatenate([[1e-12, 3e-9, 1e-6], rng.lognormal(0, 6, 3000), [1e8, 7e12]]),
        "tiny": rng.random(500) * 1e-8, "huge": 1e15 + rng.random(500) * 1e15,
        "gamma 155k-like": rng.gamma(2.0, 0.5, 20000),
        "levels with ties": np.repeat([0.1, 0.3, 1.0, 1.02, 1.5, 4.9, 5.0, 5.1, 9.0], [500, 3, 40, 40, 1, 7, 7, 7, 2]),
        "class_balance-like": np.concatenate([np.zeros(300), np.full(4000, 0.21), np.full(200, 1.4), np.full(30, 5.0)]),
        "on the ladder": np.array([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 0.15, 0.3, 0.7, 1.5, 3.0, 7.0] * 3),
        "rounding neighbours": np.array([1.0, 1.0004, 1.0006, 1.001, 1.0049, 1.0051, 2.0, 2.0004, 3.0, 9.99, 9.996]),
    }
    for levels in range(1, MAX_CLASSES + 3):  # few distinct levels: one class each up to MAX_CLASSES
        cases[f"{levels} levels"] = np.repeat(rng.gamma(2.0, 0.5, levels), rng.integers(1, 50, levels))
    for k in range(60):
        n = int(rng.integers(1, 3000))
        kind = k % 6
        if kind == 0:
            w = rng.gamma(rng.uniform(0.2, 4), rng.uniform(0.01, 10), n)
        elif kind == 1:
            w = rng.lognormal(rng.uniform(-5, 5), rng.uniform(0.01, 4), n)
        elif kind == 2:  # a few levels, many ties, some excluded
            w = rng.choice(rng.gamma(2, 1, int(rng.integers(2, 40))), n) * (rng.random(n) > 0.2)
        elif kind == 3:  # rounded to few digits: many equal weights
            w = np.round(rng.exponential(rng.uniform(0.1, 5), n), int(rng.integers(1, 4)))
        elif kind == 4:  # clusters of near-equal weights straddling ladder values
            w = rng.choice([0.1, 0.2, 0.5, 1, 2, 5, 10], n) * (1 + rng.normal(0, 1e-3, n))
        else:
            w = rng.uniform(0, rng.uniform(0.001, 1000), n)
            w[rng.random(n) < 0.05] = np.nan
        cases[f"random {k}"] = w
    return cases


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_same_breaks_as_the_loop_it_replaced(name):
    _same(CASES[name])


@pytest.mark.parametrize("classes", [0, 1, 2, 3, 5, 12])
def test_same_breaks_for_other_class_counts(classes):
    for name in ("gamma 155k-like", "huge range", "levels with ties", "random 0", "random 3", "random 4", "5 levels"):
        _same(CASES[name], classes)


def test_same_labels_and_ranges_from_the_renderer():
    """The renderer built on the breaks: bounds and labels as before, excluded range first."""
    rng = np.random.default_rng(5)
    weights = np.concatenate([np.zeros(100), rng.gamma(2.0, 0.5, 5000)])
    ranges = styling.sampler_weight_renderer(weights).ranges()
    bounds = reference_weight_breaks(weights)
    assert [(r.lowerValue(), r.upperValue()) for r in ranges[1:]] == \
        [(low if i else 0.0, high if i < len(bounds) - 1 else max(high, styling.OPEN_END))
         for i, (low, high) in enumerate(bounds)]
    assert [r.label() for r in ranges] == [styling.EXCLUDED_LABEL] + [
        f"{styling._number(low)} – {styling._number(high)} draws per epoch" for low, high in bounds]


def test_many_levels_are_fast():
    """155,000 weights with thousands of distinct levels: well under a second (it took seconds)."""
    import time

    weights = np.random.default_rng(0).gamma(2.0, 0.5, 155_000)
    assert len(weight_levels(weights)) > 1000
    start = time.perf_counter()
    weight_breaks(weights)
    assert time.perf_counter() - start < 1.0
