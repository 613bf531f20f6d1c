"""The best class balance any sampler weights can reach under the oversampling cap.

Weights are in "expected draws per epoch" units: the mean over every row (excluded rows
included, at 0) is 1, so the cap bounds each weight directly. The drawable weights form the
box W = {floor ≤ w_i ≤ cap on included patches, Σ w_i = n_rows}. The labelled pixels one epoch
draws, per class, are y(w) = Σ_i w_i n_i; their shares s = y / Σ y.

How far shares are from a target t is measured by the largest ratio between two classes'
achieved-to-target ratios: max_c (s_c / t_c) / min_c (s_c / t_c) (the Hilbert projective
distance, exponentiated). It is scale-free, so it needs no normalisation; for a uniform target
it *is* the imbalance ratio (largest / smallest class share); and it bounds the largest
|log(s_c / t_c)| from above, since the ratios straddle 1.

The smallest such ratio over W is a linear-fractional programme. Over all patches it is an LP
with one column per patch (`best_balance_lp`: HiGHS, exact, seconds at 10^5 patches). The
image of W in class space is a polytope with only n_classes dimensions, over which a linear
objective is maximised by a fractional knapsack (sort the patches by score, the best at the
cap). `best_balance` therefore generates columns (Dantzig–Wolfe): a small LP over the
extreme points found so far, priced against the whole table by one knapsack per round. It
stops at the same optimum (its duals prove it) in tens of rounds: < 1 s at 155,000 patches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dependencies import require
from .errors import AllExcludedError, InvalidParameterError


@dataclass(frozen=True)
class SamplingBox:
    """The weights a sampler can be given: lo ≤ w_i ≤ hi on the n drawable patches, Σ w = n_all.

    When the cap cannot be met (n · cap < n_all) the box shrinks to its only sensible point:
    every drawable patch at n_all / n, the flattest distribution there is.
    """

    n_all: int
    n: int
    lo: float
    hi: float
    cap_met: bool

    def corner(self, scores: np.ndarray) -> tuple[np.ndarray, int, float]:
        """The box's corner maximising Σ w_i·scores_i, as (patches at hi, the one between, its fraction).

        A fractional knapsack: every weight starts at lo and the budget n_all − n·lo goes to the
        best-scored patches, hi − lo each. argpartition is deterministic: ties resolve the same way.
        """
        span = self.hi - self.lo
        k = min(max((self.n_all - self.lo * self.n) / span, 0.0), float(self.n)) if span > 0 else 0.0
        whole = int(np.floor(k))
        if whole >= self.n:
            return np.arange(self.n), -1, 0.0
        order = np.argpartition(-scores, whole)
        return order[:whole], int(order[whole]), k - whole

    def extreme_point(self, scores: np.ndarray) -> np.ndarray:
        """The w in the box maximising Σ w_i·scores_i."""
        top, between, fraction = self.corner(scores)
        w = np.full(self.n, self.lo)
        w[top] = self.hi
        if between >= 0:
            w[between] += fraction * (self.hi - self.lo)
        return w

    def image(self, scores: np.ndarray, g: np.ndarray) -> np.ndarray:
        """g.T @ extreme_point(scores): where that corner sits in class space (g column-major is fastest)."""
        return g.T @ self.extreme_point(scores)

    @property
    def flat(self) -> np.ndarray:
        return np.full(self.n, self.n_all / self.n)


def sampling_box(n_all: int, n_drawable: int, max_oversampling: float, floor: float) -> SamplingBox:
    """The box for n_all rows of which n_drawable can be drawn; floor and cap in mean-1 units."""
    if max_oversampling < 1:
        raise InvalidParameterError(
            f"The oversampling cap must be at least 1 (1 = every usable patch equally often), got {max_oversampling}."
        )
    if not 0 < floor < 1:
        raise InvalidParameterError(f"Weight floor must be in (0, 1), got {floor}.")
    if n_drawable < 1:
        raise AllExcludedError("Every patch is excluded: there is nothing to weight.")
    if max_oversampling * n_drawable < n_all:
        level = n_all / n_drawable
        return SamplingBox(n_all, n_drawable, level, level, False)
    return SamplingBox(n_all, n_drawable, float(floor), float(max_oversampling), True)


@dataclass(frozen=True)
class BestBalance:
    ratio: float  # smallest reachable max/min of achieved-to-target share ratios (1 = target reachable)
    shares: np.ndarray  # (n_classes,) shares at that optimum (0 for classes in no drawable patch)
    weights: np.ndarray  # (n_rows,) weights reaching it (mean 1, excluded 0): bang-bang, low ESS
    low_classes: tuple[int, ...]  # class indices that cannot come up further (binding at the low end)
    high_classes: tuple[int, ...]  # class indices that cannot come down further


def spread(shares: np.ndarray, target: np.ndarray) -> float:
    """max_c (s_c / t_c) / min_c (s_c / t_c) over the classes with a positive target (inf if one is at 0)."""
    keep = target > 0
    r = np.asarray(shares, dtype=np.float64)[keep] / target[keep]
    if not len(r):
        return 1.0
    return float(r.max() / r.min()) if r.min() > 0 else float("inf")


def _prepare(pixel_counts, included, target, max_oversampling, floor):
    counts = np.asarray(pixel_counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError("pixel_counts must be (n_patches, n_classes)")
    included = np.asarray(included, dtype=bool)
    box = sampling_box(len(counts), int(included.sum()), max_oversampling, floor)
    x = counts[included]
    present = x.sum(axis=0) > 0
    if target is None:
        t = present / max(int(present.sum()), 1)
    else:
        t = np.asarray(target, dtype=np.float64)
        if np.any(t[present] <= 0):
            raise InvalidParameterError("Every class in a drawable patch needs a positive target share.")
        t = np.where(present, t, 0.0)
        t = t / t.sum()
    return x, present, t, box


def best_balance(pixel_counts: np.ndarray, included: np.ndarray, target: np.ndarray | None = None,
                 max_oversampling: float = 5.0, floor: float = 1e-3) -> BestBalance:
    """The best balance under the cap (exact, by column generation). target None = uniform over present classes."""
    x, present, t, box = _prepare(pixel_counts, included, target, max_oversampling, floor)
    n_classes = len(present)
    if present.sum() < 2:
        return _trivial(x, present, box, included)
    result = balance_frontier(x[:, present], t[present], box)
    shares = np.zeros(n_classes)
    shares[present] = result.shares
    cls = np.flatnonzero(present)
    weights = np.zeros(len(included))
    weights[np.asarray(included, dtype=bool)] = result.weights()
    return BestBalance(result.ratio, shares, weights, tuple(int(cls[c]) for c in result.low),
                       tuple(int(cls[c]) for c in result.high))


def _trivial(x, present, box, included) -> BestBalance:
    weights = np.zeros(len(included))
    weights[np.asarray(included, dtype=bool)] = box.flat
    total = x.sum()
    shares = x.sum(axis=0) / total if total else np.zeros(len(present))
    return BestBalance(1.0, shares, weights, (), ())


@dataclass
class Frontier:
    """The optimum found by `balance_frontier` over the present classes (internal form)."""

    ratio: float  # reached by `shares` (and `weights()`)
    lower: float  # proven lower bound on the best ratio (= ratio when solved exactly)
    shares: np.ndarray
    low: tuple[int, ...]
    high: tuple[int, ...]
    _mix: list[tuple[float, np.ndarray | None]]  # (convex weight, direction; None = flat weights)
    _g: np.ndarray
    _box: SamplingBox

    def weights(self) -> np.ndarray:
        """The drawable weights reaching `ratio`: the same convex mix of box corners as the optimum."""
        w = np.zeros(self._box.n)
        for pi, direction in self._mix:
            w += pi * (self._box.flat if direction is None else self._box.extreme_point(self._g @ direction))
        return np.clip(w, self._box.lo, self._box.hi)


def balance_frontier(x: np.ndarray, t: np.ndarray, box: SamplingBox, stop_below: float = 1.0,
                     gap: float = 0.0, rtol: float = 1e-9, max_rounds: int = 300) -> Frontier:
    """Smallest max/min of y_c / t_c over the box (x: drawable patches × present classes, t > 0).

    Master LP over the extreme points U_k found so far (ρ ≥ 0, homogeneous, so no Dinkelbach):
    min Z  s.t.  Σ_k ρ_k U_kc ≥ 1,  Σ_k ρ_k U_kc ≤ Z.  Its duals (γ ≥ 0 on the first rows,
    α ≥ 0 on the second) price a new extreme point by d = γ − α; when no point of the box has
    d·u > 0 the master's optimum is the box's. Stops early once Z ≤ stop_below (reachable), or,
    with gap > 0, once a lower bound from the duals proves Z within that relative gap of the
    optimum (column generation tails off: the last rounds buy digits nobody reads).
    """
    linprog = require("scipy.optimize", "the class_balance weights").linprog  # the plugin loads without scipy

    g = np.asfortranarray(x / t)  # column-major: the products below run down contiguous columns
    g /= g.sum(axis=0).max()
    n_classes = g.shape[1]
    columns = [g.T @ box.flat]
    directions: list[np.ndarray | None] = [None]
    for c in range(n_classes):
        e = np.zeros(n_classes)
        e[c] = 1.0
        columns.append(box.image(g[:, c], g))
        directions.append(e)
    rows = np.vstack([-np.eye(n_classes), np.eye(n_classes)])
    b_ub = np.concatenate([-np.ones(n_classes), np.zeros(n_classes)])
    lower, previous, checked = 1.0, np.inf, -2
    for round_ in range(max_rounds):
        u = np.array(columns).T  # classes × columns
        k = u.shape[1]
        a_ub = np.hstack([rows @ u, np.concatenate([np.zeros(n_classes), -np.ones(n_classes)])[:, None]])
        cost = np.zeros(k + 1)
        cost[-1] = 1.0
        lp = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
        if lp.status != 0:  # pragma: no cover - the flat column always makes the master feasible
            raise RuntimeError(f"balance master LP failed: {lp.message}")
        duals = -lp.ineqlin.marginals
        gamma, alpha = duals[:n_classes], duals[n_classes:]
        ratio = float(lp.fun)
        if ratio <= stop_below * (1 + rtol):
            break
        # The bound costs a few knapsacks: ask for it once the master has slowed down.
        if gap > 0 and ratio > previous * (1 - 0.01) and round_ >= checked + 2:
            lower, checked = max(lower, _ratio_bound(g, box, alpha, gamma)), round_
            if ratio <= lower * (1 + gap):
                break
        previous = ratio
        direction = gamma - alpha
        new = box.image(g @ direction, g)
        if direction @ new <= rtol * (np.abs(direction) @ new):
            lower = ratio  # no corner prices out: the master's optimum is the box's
            break
        columns.append(new)
        directions.append(direction)
    rho = lp.x[:k]
    point = u @ rho
    shares = point * t
    shares = shares / shares.sum()
    scale = max(gamma.max(initial=0.0), alpha.max(initial=0.0), 1e-300)
    binding = ratio > stop_below * (1 + rtol)  # at a reachable target the duals name no limit
    low = tuple(int(c) for c in np.flatnonzero(gamma > 1e-9 * scale)) if binding else ()
    high = tuple(int(c) for c in np.flatnonzero(alpha > 1e-9 * scale)) if binding else ()
    total = rho.sum()
    mix = [(float(r / total), directions[j]) for j, r in enumerate(rho) if r > 0]
    return Frontier(max(ratio, 1.0), min(max(lower, 1.0), max(ratio, 1.0)), shares, low, high, mix, g, box)


def _ratio_bound(g: np.ndarray, box: SamplingBox, alpha: np.ndarray, gamma: np.ndarray) -> float:
    """A lower bound on the optimum: min over the box of (α·u)/(γ·u), for any α, γ ≥ 0.

    max_c u_c / min_c u_c ≥ (α·u / Σα) / (γ·u / Σγ) at every u, so its minimum bounds the
    optimum from below (with the master's duals it is tight at the optimum). Dinkelbach: each
    step one knapsack, exact after a few steps.
    """
    if alpha.sum() <= 0 or gamma.sum() <= 0:
        return 1.0
    a, c = alpha / alpha.sum(), gamma / gamma.sum()
    u = g.T @ box.flat
    rho = float(a @ u / (c @ u))
    for _ in range(50):
        u = box.image(-(g @ (a - rho * c)), g)
        if c @ u <= 0:
            return 1.0
        new = float(a @ u / (c @ u))
        if not new < rho * (1 - 1e-13):
            break
        rho = new
    return max(rho, 1.0)


def best_balance_lp(pixel_counts: np.ndarray, included: np.ndarray, target: np.ndarray | None = None,
                    max_oversampling: float = 5.0, floor: float = 1e-3, rtol: float = 1e-9) -> BestBalance:
    """The same optimum from one LP over every patch (HiGHS), by Dinkelbach's method on the ratio.

    The reference `best_balance` is checked against: slower (one column per patch, a few LPs),
    independent of the column generation. Each LP: min Z − B·M over the box with M ≤ y_c/t_c ≤ Z;
    B ← max/min at its solution until Z − B·M reaches 0.
    """
    sparse = require("scipy.sparse", "the exact best balance")
    linprog = require("scipy.optimize", "the exact best balance").linprog

    x, present, t, box = _prepare(pixel_counts, included, target, max_oversampling, floor)
    if present.sum() < 2:
        return _trivial(x, present, box, included)
    g = x[:, present] / t[present]
    g = g / g.sum(axis=0).max()
    n, c = g.shape
    eye = sparse.identity(c, format="csr")
    a_eq = sparse.vstack([
        sparse.hstack([sparse.csr_matrix(g.T), -eye, sparse.csr_matrix((c, 2))]),
        sparse.hstack([sparse.csr_matrix(np.ones((1, n))), sparse.csr_matrix((1, c + 2))]),
    ]).tocsr()
    b_eq = np.concatenate([np.zeros(c), [box.n_all]])
    ones = np.ones((c, 1))
    a_ub = sparse.vstack([
        sparse.hstack([sparse.csr_matrix((c, n)), eye, -ones, np.zeros((c, 1))]),
        sparse.hstack([sparse.csr_matrix((c, n)), -eye, np.zeros((c, 1)), ones]),
    ]).tocsr()
    bounds = np.zeros((n + c + 2, 2))
    bounds[:n] = box.lo, box.hi
    bounds[n:, 1] = np.inf

    def ratio_of(w):
        y = w @ g
        return float(y.max() / y.min())

    w = box.flat
    ratio = ratio_of(w)
    for _ in range(50):
        cost = np.zeros(n + c + 2)
        cost[-2], cost[-1] = 1.0, -ratio
        lp = linprog(cost, A_ub=a_ub, b_ub=np.zeros(2 * c), A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if lp.status != 0:  # pragma: no cover
            raise RuntimeError(f"balance LP failed: {lp.message}")
        candidate = np.clip(lp.x[:n], box.lo, box.hi)
        better = ratio_of(candidate)
        if not better < ratio * (1 - rtol):  # Z − B·M reached 0: B is the optimum
            break
        w, ratio = candidate, better
    y = w @ x[:, present]
    shares = np.zeros(len(present))
    shares[present] = y / y.sum()
    weights = np.zeros(len(included))
    weights[np.asarray(included, dtype=bool)] = w
    return BestBalance(max(ratio, 1.0), shares, weights, (), ())


def class_share_bound(x: np.ndarray, cls: int, box: SamplingBox, most: bool = True) -> float:
    """The most (or least) share of the drawn labelled pixels class `cls` can have under the box.

    Dinkelbach on y_c / Y: each step is one knapsack (scores ±(n_ic − ρ·L_i)); a few steps.
    """
    pair = np.asfortranarray(np.column_stack([x[:, cls], x.sum(axis=1)]))  # own pixels, labelled pixels
    total = pair.sum(axis=0)
    sign = 1.0 if most else -1.0
    rho = float(total[0] / total[1]) if total[1] > 0 else 0.0
    for _ in range(100):
        own, labelled = box.image(sign * (pair[:, 0] - rho * pair[:, 1]), pair)
        if labelled <= 0:
            break
        new = float(own / labelled)
        if not sign * (new - rho) > 1e-15 * max(rho, 1e-300):
            break
        rho = new
    return rho
