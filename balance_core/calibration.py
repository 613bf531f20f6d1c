"""`class_balance`: sampler weights calibrated to a target class distribution under the cap.

A weight is the expected number of draws per epoch of `WeightedRandomSampler(num_samples =
n_rows, replacement=True)` (mean 1 over all rows, excluded rows at exactly 0), so the labelled
pixels one epoch feeds the loss have class shares s_c(w) = Σ_i w_i n_ic / Σ_i w_i L_i. The
weights reach the target shares while staying as close as possible (KL divergence) to a base
weight — uniform, or visual uniqueness — within floor ≤ w_i ≤ cap: entropy balancing with
bounds, as in survey raking. The solution has the form w_i = clip(b_i·exp(μ + λ·a_i), floor, cap)
with a_i the patch's class pixel excess over the target, so the problem is solved on its dual:
one variable per class plus the normalisation, by Newton's method, whatever the number of patches.

A class that lives in few patches may not reach its target under the cap. Then the shares get
as close as any weights can — the smallest max/min of achieved-to-target ratios, which for a
uniform target is the imbalance ratio, found exactly by `best_balance` — within `tolerance` of
that optimum, spent on effective sample size. Which shares inside that band: first the shares
move along the geodesic from raw to target as far as any weights can follow (so every class
gains as the strength promises, and more strength never lowers a class), then the weights closest
to those are found whose ratios lie in the band (an active-set calibration on the same dual).
The classes that limit the balance are reported with the number of patches holding them and the
most (least) share any weights under the cap give them.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .best_balance import SamplingBox, balance_frontier, class_share_bound, sampling_box, spread
from .errors import InvalidParameterError

TARGETS = ("uniform", "sqrt")


@dataclass(frozen=True)
class ClassLimit:
    """A class that bounds the reachable balance."""

    index: int  # column of pixel_counts
    value: int  # class value
    side: str  # "low": cannot come up any further; "high": cannot come down any further
    patches: int  # drawable patches holding at least one pixel of it
    drawable: int  # drawable patches in all
    share_bound: float  # the most ("low") or least ("high") share of it any weights under the cap give

    def describe(self, cap: float, names: Mapping[int, str] | None = None) -> str:
        name = class_label(self.value, names)
        bound = "at most" if self.side == "low" else "at least"
        return (f"{name} is in {self.patches} of {self.drawable} drawable patches: "
                f"{bound} {percent(self.share_bound)} under a {cap:g}× cap")


@dataclass(frozen=True)
class CalibrationResult:
    weights: np.ndarray  # (n_rows,) mean 1 over all rows, excluded exactly 0
    class_values: np.ndarray
    raw_share: np.ndarray  # shares of the labelled pixels of the drawable patches, unweighted
    target_share: np.ndarray  # after BALANCE_STRENGTH
    achieved_share: np.ndarray  # one epoch's expected shares under `weights`
    reached: bool  # achieved == target (to 1e-9)
    ratio: float  # max/min over classes of achieved/target share (1 = on target; uniform: imbalance)
    best_ratio: float  # the smallest ratio any weights under the cap reach (1 when reachable)
    raw_ratio: float  # the same for the raw shares
    uniform_target: bool
    limits: tuple[ClassLimit, ...]
    cap: float
    cap_met: bool
    effective_sample_size: float  # (Σw)² / Σw²
    notes: tuple[str, ...] = field(default=())

    @property
    def max_oversampling(self) -> float:
        return float(self.weights.max() / self.weights.mean()) if self.weights.any() else 0.0

    def message(self, names: Mapping[int, str] | None = None) -> str:
        """What the weights achieve, for the log; `names` maps class values to names."""
        return describe(self, names)


def calibrate_class_balance(
    pixel_counts: np.ndarray,
    included: np.ndarray,
    base: np.ndarray | None = None,
    target: str | Mapping[int, float] = "uniform",
    strength: float = 1.0,
    max_oversampling: float = 5.0,
    floor: float = 1e-3,
    class_values: np.ndarray | None = None,
    tolerance: float = 0.05,
    others: str = "geodesic",
) -> CalibrationResult:
    """Weights whose epoch class shares reach `target`, closest to `base`, under floor and cap.

    pixel_counts: (n_rows, n_classes) labelled pixels per patch and class; included: (n_rows,)
    drawable patches; base: positive per-row weights (None = uniform; only drawable rows read);
    target: "uniform", "sqrt" or {class value: share} (unlisted classes share the rest in
    proportion to their raw shares); strength in [0, 1]: the target moves geometrically from
    the raw shares (0) to `target` (1); floor and max_oversampling are in mean-1 units (a
    weight is the expected draws per epoch); tolerance: how much worse than the best reachable
    ratio the shares may be, when the target is out of reach, to gain effective sample size;
    others: where the classes that do not limit an out-of-reach balance go — "geodesic" (towards
    the target as far as the limiting classes let the whole distribution move: more strength never
    lowers a class) or "base" (as close to the base weights as the band allows: the most effective
    sample size, but such a class stays near its raw share however strong the target).
    """
    counts = np.asarray(pixel_counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError("pixel_counts must be (n_patches, n_classes)")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise InvalidParameterError("Class pixel counts must be finite and non-negative.")
    included = np.asarray(included, dtype=bool)
    values = np.arange(counts.shape[1]) if class_values is None else np.asarray(class_values)
    if not 0 <= strength <= 1:
        raise InvalidParameterError(f"Balance strength must be between 0 (raw shares) and 1 (target), got {strength}.")
    if tolerance < 0:
        raise InvalidParameterError(f"The tolerance must be ≥ 0, got {tolerance}.")
    if others not in ("geodesic", "base"):
        raise InvalidParameterError(f"Unknown placement {others!r} for the non-limiting classes: use geodesic or base.")
    box = sampling_box(len(counts), int(included.sum()), max_oversampling, floor)
    x = counts[included]
    present = x.sum(axis=0) > 0
    raw = _shares(x.sum(axis=0))
    notes: list[str] = []
    t = target_shares(raw, values, target, strength, notes)
    log_base = _log_base(base, included)

    xp, tp = x[:, present], t[present]
    solver = _Solver(xp, log_base, box)
    limits: tuple[ClassLimit, ...] = ()
    best = 1.0
    if not box.cap_met:
        notes.append(
            f"The oversampling cap {max_oversampling:g} cannot be met: only {box.n} of {box.n_all} patches can be "
            f"drawn, so each is drawn {box.hi:.2f}× on average. They all get the same weight."
        )
        w = box.flat
        best = spread(raw, t)  # the flat weights are the only ones left
    elif present.sum() < 2:
        w = solver.anchor()[0]
    else:
        w = solver.calibrate(tp, max_iter=50)[0]
        if w is None:
            w, best, limits = _closest(solver, xp, tp, raw[present], box, tolerance, present, values, others)
    weights = np.zeros(len(counts))
    weights[included] = _exact_mean(w, box)
    achieved = _shares(weights[included] @ x)
    ratio = spread(achieved, t)
    reached = ratio <= 1 + 1e-9
    return CalibrationResult(
        weights=weights,
        class_values=values,
        raw_share=raw,
        target_share=t,
        achieved_share=achieved,
        reached=bool(reached),
        ratio=ratio,
        best_ratio=1.0 if reached else max(best, 1.0),
        raw_ratio=spread(raw, t),
        uniform_target=bool(np.ptp(t[present]) <= 1e-12 * t.max()) if present.any() else True,
        limits=limits,
        cap=float(max_oversampling),
        cap_met=box.cap_met,
        effective_sample_size=float(weights.sum() ** 2 / np.sum(weights**2)),
        notes=tuple(notes),
    )


def _shares(totals: np.ndarray) -> np.ndarray:
    total = totals.sum()
    return totals / total if total > 0 else np.zeros_like(totals, dtype=np.float64)


def _log_base(base: np.ndarray | None, included: np.ndarray) -> np.ndarray:
    if base is None:
        return np.zeros(int(included.sum()))
    b = np.asarray(base, dtype=np.float64)
    if b.shape != included.shape:
        raise ValueError("base must have one value per row")
    b = b[included]
    if not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise InvalidParameterError("Base weights must be finite and positive on every drawable patch.")
    return np.log(b / b.max())


def target_shares(raw: np.ndarray, class_values: np.ndarray, target: str | Mapping[int, float],
                  strength: float = 1.0, notes: list[str] | None = None) -> np.ndarray:
    """Target shares over the classes present in drawable patches (0 elsewhere), after strength.

    strength s moves the target geometrically from the raw shares: t ∝ raw^(1−s) · target^s.
    """
    present = raw > 0
    k = int(present.sum())
    if k == 0:
        return np.zeros_like(raw)
    if isinstance(target, str):
        if target == "uniform":
            goal = present / k
        elif target == "sqrt":
            goal = _shares(np.sqrt(raw))
        else:
            raise InvalidParameterError(
                f"Unknown target {target!r}: use uniform, sqrt, or per-class shares such as '1:0.3,2:0.2'."
            )
    else:
        goal = _listed_shares(raw, np.asarray(class_values), target, notes if notes is not None else [])
    with np.errstate(divide="ignore"):
        log_t = (1 - strength) * np.log(np.where(present, raw, 1.0)) + strength * np.log(np.where(present, goal, 1.0))
    t = np.where(present, np.exp(log_t - log_t[present].max()), 0.0)
    return t / t.sum()


def _listed_shares(raw: np.ndarray, values: np.ndarray, listed: Mapping[int, float], notes: list[str]) -> np.ndarray:
    present = raw > 0
    goal = np.zeros(len(raw))
    chosen = np.zeros(len(raw), dtype=bool)
    index = {int(v): i for i, v in enumerate(values)}
    for value, share in listed.items():
        share = float(share)
        if int(value) not in index:
            raise InvalidParameterError(
                f"Target class {value} is not a class of the masks (classes: {', '.join(str(int(v)) for v in values)})."
            )
        if not 0 < share <= 1:
            raise InvalidParameterError(f"The target share of class {value} must be in (0, 1], got {share:g}.")
        i = index[int(value)]
        if not present[i]:
            notes.append(f"Target class {value} is in no drawable patch: its share is left out.")
            continue
        goal[i], chosen[i] = share, True
    rest = present & ~chosen
    listed_sum = goal.sum()
    if rest.any():
        if listed_sum >= 1:
            raise InvalidParameterError(
                f"The listed target shares sum to {listed_sum:g}, leaving nothing for classes "
                f"{', '.join(str(int(v)) for v in values[rest])}: list them too, or lower the shares."
            )
        goal[rest] = (1 - listed_sum) * raw[rest] / raw[rest].sum()
    elif abs(listed_sum - 1) > 1e-6:
        notes.append(f"The listed target shares sum to {listed_sum:g}; they are scaled to sum to 1.")
        goal = goal / listed_sum
    return goal


def parse_target(text: str) -> str | dict[int, float]:
    """'uniform', 'sqrt', or per-class shares '1:0.3,2:0.2' (as typed in a Processing parameter)."""
    text = (text or "").strip()
    if text.lower() in TARGETS or not text:
        return text.lower() or "uniform"
    shares: dict[int, float] = {}
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            value, share = part.split(":")
            shares[int(value.strip())] = float(share.strip())
        except ValueError:
            raise InvalidParameterError(
                f"Cannot read the target {text!r}: use uniform, sqrt, or class:share pairs such as '1:0.3,2:0.2'."
            ) from None
    return shares


class _Solver:
    """Entropy balancing with bounds on the dual: w_i = clip(b_i·exp(μ + λ·a_i), lo, hi).

    Minimises G(μ, λ) = Σ_i φ_i(μ + λ·a_i) − μ·N, convex with φ_i' = the clipped weight, whose
    gradient is (Σ w − N, Σ w_i a_i): zero exactly at weights with the target shares. Newton
    steps with a backtracking line search; an unreachable target is recognised by a direction λ
    along which every weight in the box misses the target (one knapsack: a certificate).
    """

    def __init__(self, x: np.ndarray, log_base: np.ndarray, box: SamplingBox) -> None:
        self.x, self.log_base, self.box = x, log_base, box
        self.labelled = x.sum(axis=1)
        mean_labelled = self.labelled[self.labelled > 0].mean() if (self.labelled > 0).any() else 1.0
        self.unit = float(mean_labelled)
        self.log_lo, self.log_hi = math.log(box.lo), math.log(box.hi)
        self._anchor: tuple[np.ndarray, float] | None = None

    def anchor(self) -> tuple[np.ndarray, float]:
        """The weights closest to the base with no class constraint (base scaled into the box)."""
        if self._anchor is None:
            mu0 = math.log(self.box.n_all) - float(np.log(np.exp(self.log_base).sum()))
            w, theta, ok = self._newton(np.zeros((self.box.n, 0)), np.array([mu0]), certify=False)
            self._anchor = (w, float(theta[0]))
        return self._anchor

    def calibrate(self, t: np.ndarray, max_iter: int = 100, certify: bool = True,
                  theta0: np.ndarray | None = None, tol: float = 1e-11) -> tuple[np.ndarray | None, np.ndarray]:
        """Weights with exactly the shares t (over the columns of x), or None when out of reach.

        Also returns the dual point, to warm-start a calibration to a nearby target.
        """
        ref = int(np.argmax(t))
        columns = [c for c in range(len(t)) if c != ref]
        a = np.empty((self.box.n, len(columns)), order="F")  # column-major: fast Gram matrix and products
        for j, c in enumerate(columns):
            a[:, j] = (self.x[:, c] - self.labelled * t[c]) / self.unit
        if theta0 is None:
            theta0 = np.zeros(a.shape[1] + 1)
            theta0[0] = self.anchor()[1]
        w, theta, ok = self._newton(a, theta0, max_iter=max_iter, certify=certify, tol=tol)
        return (w if ok else None), theta

    def band(self, t: np.ndarray, ratio: float, low: tuple[int, ...] = (), high: tuple[int, ...] = ()) -> np.ndarray | None:
        """The weights closest to the base whose achieved/target ratios all lie within a factor `ratio`.

        With u_c = y_c / t_c the band is ν ≤ u_c ≤ ratio·ν for some ν. At the optimum the classes split
        into those at the low edge (P, multiplier λ_c > 0), at the high edge (M, λ_c < 0) and inside
        (λ_c = 0), with Σ_P λ + ratio·Σ_M λ = 0. For a given split the edges are equality constraints
        (u_c = u_r for c in P, u_c = ratio·u_r for c in M, r a reference in P): an ordinary calibration.
        Active set, tried from the split binding at the best ratio (`low`, `high`), then from the
        lowest and highest class at the base weights; None if neither finds the split.
        """
        g = np.asfortranarray(self.x / t) / self.unit
        u = g.T @ self.anchor()[0]
        for edges in ((set(low), set(high)), ({int(np.argmin(u))}, {int(np.argmax(u))})):
            if edges[0] and edges[1] and not edges[0] & edges[1]:
                w = self._active_set(g, ratio, *edges)
                if w is not None:
                    return w
        return None

    def _active_set(self, g: np.ndarray, ratio: float, edge_low: set[int], edge_high: set[int]) -> np.ndarray | None:
        """Pin the class furthest outside the band to its edge, one at a time; release a class whose
        multiplier has the wrong sign. When pinning a class makes the edges unreachable it tries its
        edge alone; failing that it is never pinned again. An emptied edge takes the class now
        lowest (highest)."""
        n_classes = g.shape[1]
        lam = np.zeros(n_classes)
        w, mu = self.anchor()
        u, nu = g.T @ w, 0.0
        barred: set[int] = set()
        last = None  # the last split solved with consistent signs: (low, high, w, mu, lam, u, nu)
        trial = None  # (class being pinned, tried alone on its edge?, its edge is the low one?)
        solve = True
        for _ in range(4 * n_classes + 4):
            if solve:
                if not edge_low:
                    edge_low = {min((c for c in range(n_classes) if c not in edge_high), key=lambda c: u[c])}
                if not edge_high:
                    edge_high = {max((c for c in range(n_classes) if c not in edge_low), key=lambda c: u[c])}
                ref = min(edge_low)
                cols_low, cols_high = sorted(edge_low - {ref}), sorted(edge_high)
                a = np.empty((self.box.n, len(cols_low) + len(cols_high)), order="F")
                for j, c in enumerate(cols_low):
                    a[:, j] = g[:, c] - g[:, ref]
                for j, c in enumerate(cols_high):
                    a[:, len(cols_low) + j] = g[:, c] - ratio * g[:, ref]
                w_new, theta, ok = self._newton(a, np.concatenate([[mu], lam[cols_low], lam[cols_high]]))
                if not ok:
                    if trial is None or last is None:
                        return None
                    pinned, alone, low_side = trial
                    edge_low, edge_high = set(last[0]), set(last[1])
                    lam = last[4].copy()
                    if not alone:  # pinning it made the edges unreachable: try it alone on its edge
                        side = edge_low if low_side else edge_high
                        for c in side:
                            lam[c] = 0.0
                        side.clear()
                        side.add(pinned)
                        trial = (pinned, True, low_side)
                        continue
                    barred.add(pinned)  # still unreachable: back to the last split, never pin it again
                    w, mu, u, nu = last[2], last[3], last[5], last[6]
                    trial, solve = None, False
                    continue
                w, mu = w_new, float(theta[0])
                lam = np.zeros(n_classes)
                lam[cols_low] = theta[1:1 + len(cols_low)]
                lam[cols_high] = theta[1 + len(cols_low):]
                lam[ref] = -lam[cols_low].sum() - ratio * lam[cols_high].sum()
                u = g.T @ w
                nu = u[ref]
                scale = np.abs(lam).max(initial=0.0)
                wrong = [c for c in edge_low if lam[c] < -1e-9 * scale] + [c for c in edge_high if lam[c] > 1e-9 * scale]
                trial = None
                if wrong:
                    worst = max(wrong, key=lambda c: abs(lam[c]))
                    edge_low.discard(worst)
                    edge_high.discard(worst)
                    lam[worst] = 0.0
                    continue
                last = (set(edge_low), set(edge_high), w, mu, lam.copy(), u, nu)
            outside = {c: max(nu / u[c], u[c] / (ratio * nu)) for c in range(n_classes)
                       if c not in edge_low and c not in edge_high and (u[c] < nu * (1 - 1e-9) or u[c] > ratio * nu * (1 + 1e-9))}
            if not outside:
                return w
            candidates = [c for c in outside if c not in barred]
            if not candidates:
                return None
            pinned = max(candidates, key=lambda c: outside[c])
            low_side = bool(u[pinned] < nu)
            (edge_low if low_side else edge_high).add(pinned)
            trial, solve = (pinned, False, low_side), True
        return None

    def _evaluate(self, exponent: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        clipped = np.clip(exponent, self.log_lo, self.log_hi)
        w = np.exp(clipped)
        return float(np.sum(w * (1.0 + exponent - clipped))), w, clipped == exponent

    def _newton(self, a: np.ndarray, theta0: np.ndarray, max_iter: int = 100, certify: bool = True,
                tol: float = 1e-11) -> tuple[np.ndarray, np.ndarray, bool]:
        """Minimise G from theta0 = (μ, λ); returns the weights, (μ, λ) and whether G's gradient vanished."""
        n_all = self.box.n_all
        k = a.shape[1]
        theta = np.array(theta0, dtype=np.float64)
        a_lambda = a @ theta[1:]
        value, w, free = self._evaluate(self.log_base + theta[0] + a_lambda)
        value -= theta[0] * n_all
        last_size = 1.0
        for iteration in range(max_iter):
            grad = np.concatenate([[w.sum() - n_all], a.T @ w]) / n_all
            drawn = float(w @ self.labelled) / self.unit  # labelled pixels drawn, in `a`'s units
            share_error = np.abs(grad[1:]).max(initial=0.0) * n_all / max(drawn, 1e-300)
            if abs(grad[0]) <= tol and share_error <= tol:
                return w, theta, True
            if certify and k and iteration and self._unreachable(a_lambda):
                return w, theta, False
            wf = w * free
            root = a * np.sqrt(wf)[:, None]
            hessian = np.empty((k + 1, k + 1))
            hessian[0, 0] = wf.sum()
            hessian[0, 1:] = hessian[1:, 0] = a.T @ wf
            hessian[1:, 1:] = root.T @ root
            hessian /= n_all
            ridge = 1e-12 * max(float(np.trace(hessian)), 1e-300)
            try:
                step = -np.linalg.solve(hessian + ridge * np.eye(k + 1), grad)
            except np.linalg.LinAlgError:
                step = -np.linalg.lstsq(hessian + ridge * np.eye(k + 1), grad, rcond=None)[0]
            a_step = a @ step[1:]
            slope = float(grad @ step) * n_all
            if not slope < 0:
                step, a_step, slope = -grad, a @ -grad[1:], -float(grad @ grad) * n_all
            size, improved = min(1.0, 4.0 * last_size), False  # where clipping bends G, start near the last step
            rounding = 1e-12 * (abs(value) + n_all)  # G's own rounding: near the optimum Armijo sees only noise
            for _ in range(60):
                trial_lambda = a_lambda + size * a_step
                mu = theta[0] + size * step[0]
                trial, w_trial, free_trial = self._evaluate(self.log_base + mu + trial_lambda)
                trial -= mu * n_all
                if trial <= value + 1e-4 * size * slope + rounding:
                    improved = True
                    break
                size *= 0.5
            if not improved:
                return w, theta, False
            theta = theta + size * step
            a_lambda, value, w, free, last_size = trial_lambda, trial, w_trial, free_trial, size
        return w, theta, False

    def _unreachable(self, scores: np.ndarray) -> bool:
        """True when even the best weights in the box leave Σ w_i·scores_i < 0: no weights hit the target."""
        corner = self.box.extreme_point(scores)
        best = float(corner @ scores)
        return best < -1e-9 * float(np.abs(scores) @ corner)


def _closest(solver: _Solver, x: np.ndarray, t: np.ndarray, raw: np.ndarray, box: SamplingBox, tolerance: float,
             present: np.ndarray, values: np.ndarray, others: str) -> tuple[np.ndarray, float, tuple[ClassLimit, ...]]:
    """The target is out of reach: shares within `tolerance` of the best reachable ratio.

    Minimax alone leaves every class that does not limit the ratio free inside the band, where
    the weights closest to the base would keep it near its raw share: raising the strength
    would then *lower* a middle class (demo: road 1.8 % at strength 0.25, 0.64 % at 1). So the
    shares first travel the geodesic from the raw shares towards the target as far as any
    weights can follow (every class moves, in proportion, as strength promises), and only then
    are the limiting classes pushed into the band: the weights closest to those geodesic
    weights (themselves the closest to the base) whose ratios lie within the tolerance.
    """
    # The optimum need not be pinned down beyond what the tolerance can tell apart: with
    # lower ≤ best ≤ ratio, a band of lower·(1 + tolerance) (never below the reached ratio)
    # stays within the tolerance of the best.
    frontier = balance_frontier(x, t, box, gap=min(tolerance / 2, 0.01))
    best = frontier.ratio
    raw_ratio = spread(raw, t)
    allowed = min(max(best, frontier.lower * (1 + tolerance)), max(raw_ratio, best))
    limits = _limits(frontier, x, box, present, values)
    if others == "base":
        anchor = solver.anchor()[0]
    else:
        column = {int(c): j for j, c in enumerate(np.flatnonzero(present))}
        anchor = _geodesic(solver, raw, t, best, raw_ratio,
                           [(column[limit.index], limit.side == "low", limit.share_bound) for limit in limits])
    if spread(_shares(anchor @ x), t) <= allowed:
        return anchor, best, limits
    w = _Solver(x, np.log(anchor), box).band(t, allowed, frontier.low, frontier.high)
    if w is not None:
        return w, best, limits
    # No active set found (not seen in practice): pull the optimum's shares towards the anchor's.
    anchor_shares = _shares(anchor @ x)
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if spread((1 - mid) * anchor_shares + mid * frontier.shares, t) <= allowed:
            hi = mid
        else:
            lo = mid
    goal = (1 - hi) * anchor_shares + hi * frontier.shares
    w = solver.calibrate(goal / goal.sum(), max_iter=200, certify=False)[0]  # reachable by construction
    return (w if w is not None else frontier.weights()), best, limits


def _geodesic(solver: _Solver, raw: np.ndarray, t: np.ndarray, best: float, raw_ratio: float,
              limits: list[tuple[int, bool, float]], steps: int = 5) -> np.ndarray:
    """Weights reaching t(σ) ∝ raw^(1−σ)·t^σ for (nearly) the largest reachable σ; the base's if none.

    Two upper bounds on σ: the Hilbert distance is 1-Lipschitz along the geodesic, so
    σ ≤ 1 − log(best)/log(raw ratio) (two classes: that is the answer); and no limiting class
    may pass the most (least) share it can have at all (`limits`: column, low side?, bound) —
    usually the rarest class, and then the answer too. The search starts just below the smaller
    bound and bisects. It only guides the shares of the classes that do not limit the balance, so
    a coarse σ and loose calibrations do (one not converged in 30 steps counts as out of reach).
    """
    w_best, theta = solver.anchor()[0], None
    if not raw_ratio > 1 or not best < raw_ratio:
        return w_best
    log_raw, log_t = np.log(raw), np.log(t)

    def target_at(sigma: float) -> np.ndarray:
        v = np.exp((1 - sigma) * log_raw + sigma * log_t - ((1 - sigma) * log_raw + sigma * log_t).max())
        return v / v.sum()

    bound = 1.0 - math.log(best) / math.log(raw_ratio)
    for c, low_side, share in limits:  # shares move monotonically along the geodesic: bisect each
        def passes(sigma: float, c: int = c, low_side: bool = low_side, share: float = share) -> bool:
            return target_at(sigma)[c] > share if low_side else target_at(sigma)[c] < share
        if passes(bound):
            lo_c, hi_c = 0.0, bound
            for _ in range(40):
                mid = (lo_c + hi_c) / 2
                lo_c, hi_c = (lo_c, mid) if passes(mid) else (mid, hi_c)
            bound = lo_c
    lo, hi = 0.0, bound
    sigma = bound * 0.95
    for _ in range(steps):
        w, theta_new = solver.calibrate(target_at(sigma), theta0=theta, max_iter=30, tol=1e-7)
        if w is not None:
            w_best, theta, lo = w, theta_new, sigma
            if sigma >= bound * 0.95:
                break
        else:
            hi = sigma
        sigma = (lo + hi) / 2
    return w_best


def _limits(frontier, x: np.ndarray, box: SamplingBox, present: np.ndarray, values: np.ndarray) -> tuple[ClassLimit, ...]:
    columns = np.flatnonzero(present)
    holding = (x > 0).sum(axis=0)
    out = []
    for side, classes in (("low", frontier.low), ("high", frontier.high)):
        for c in classes:
            bound = class_share_bound(x, c, box, most=side == "low")
            out.append(ClassLimit(int(columns[c]), int(values[columns[c]]), side, int(holding[c]), box.n, bound))
    return tuple(out)


def _exact_mean(w: np.ndarray, box: SamplingBox) -> np.ndarray:
    """Nudge the weights strictly inside the bounds so Σ w = n_rows to rounding (mean exactly 1)."""
    w = np.clip(np.asarray(w, dtype=np.float64), box.lo, box.hi)
    for _ in range(8):
        gap = box.n_all - w.sum()
        if gap == 0:
            break
        free = (w > box.lo) & (w < box.hi)
        room = w[free].sum()
        if room <= 0:
            break
        w[free] = np.clip(w[free] * (1 + gap / room), box.lo, box.hi)
    return w


def loss_weights(achieved_share: np.ndarray) -> np.ndarray:
    """Per class: largest achieved share / the class's share (0 for a class never drawn).

    The inverse-frequency class weight the loss still needs once the sampler has rebalanced
    (1 for the most drawn class), ready for `torch.nn.CrossEntropyLoss(weight=…)`.
    """
    s = np.asarray(achieved_share, dtype=np.float64)
    top = s.max(initial=0.0)
    return np.divide(top, s, out=np.zeros_like(s), where=s > 0)


def class_label(value: int, names: Mapping[int, str] | None) -> str:
    name = (names or {}).get(int(value))
    return name if name else f"class {int(value)}"


def percent(share: float) -> str:
    p = 100.0 * share
    return f"{p:.2f} %" if p >= 0.1 or p == 0 else f"{p:.2g} %"


def _ratio(r: float) -> str:
    return "∞" if not math.isfinite(r) else f"{r:.3g}"


def describe(result: CalibrationResult, names: Mapping[int, str] | None = None) -> str:
    """One paragraph for the log: how far the weights bring the shares, and what limits them."""
    parts = list(result.notes)
    if result.uniform_target:
        change = f"imbalance {_ratio(result.raw_ratio)}:1 → {_ratio(result.ratio)}:1"
        best = f"the best any weights reach is {_ratio(result.best_ratio)}:1"
    else:
        change = (f"achieved-to-target share ratios differ by up to {_ratio(result.raw_ratio)}× raw, "
                  f"{_ratio(result.ratio)}× weighted")
        best = f"the best any weights reach is {_ratio(result.best_ratio)}×"
    if result.reached:
        parts.insert(0, f"Class balance: target reached under the {result.cap:g}× cap ({change}).")
    elif result.cap_met and result.best_ratio <= 1 + 1e-6:
        parts.insert(0, f"Class balance: the target is met only with weights pinned at the floor or the "
                        f"{result.cap:g}× cap; the shares stay near it instead ({change}).")
    elif result.cap_met:
        parts.insert(0, f"Class balance: the target is out of reach under the {result.cap:g}× cap "
                        f"({change}; {best}).")
        # A class pinned at the top is named when it sits at its least reachable share; one held up
        # only by what it shares patches with explains nothing.
        parts.extend(limit.describe(result.cap, names) + "." for limit in result.limits
                     if limit.side == "low" or limit.share_bound >= 0.9 * result.achieved_share[limit.index])
    else:
        parts.insert(0, f"Class balance: {change}.")
    return " ".join(parts)
