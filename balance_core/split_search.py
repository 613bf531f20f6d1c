"""Class-stratified assignment of spatial blocks to splits: a seeded local search.

The split must keep each split's class shares close to the whole dataset's (seed 003: "stratified
split preserved across all sets"), give every split every class the data allow, and keep the
requested fractions. Blocks are indivisible, so this is a small bin-packing problem; it is solved
by local search from several seeded starts, keeping the best.

What is minimised (all three terms are zero for a perfect split):

- **class allocation**: for every class c, the share of its labelled pixels that falls in split s,
  a[s, c], against the requested fraction f[s]: mean over classes of Σ_s (a[s, c] − f[s])² / f[s].
  Every class counts the same, so a 0.1 % class is stratified as carefully as the background (the
  divergence of the splits' pixel shares from the whole's would be dominated by the background);
  when a[s, c] = f[s] for every class, each split's class shares equal the whole's exactly;
- **fractions**: Σ_s (n[s]/N − f[s])² / f[s] over the *drawable patches* (not excluded): the samples a
  trainer iterates over, which is what "70 / 15 / 15" means to most users;
- **missing classes**: one per (split, class) pair where the class is absent although it lies in at
  least as many blocks as there are splits (weighted heavily: a split without a class cannot
  measure it).

Moves (one block to another split) and swaps (two blocks of different splits) are scored for
all candidates at once with matrix products, so a step costs O(blocks × classes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import InvalidParameterError
from .progress import Progress, check_cancelled

SPLIT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a file name on every OS, no path
MISSING_WEIGHT = 1.0  # per (split, class) missing: more than any class's allocation term can gain
FRACTION_WEIGHT = 1.0  # the fraction term counts like one (average) class
RESTARTS = 8
MAX_MOVES = 4000  # per restart and round
SWAP_CANDIDATES = 400  # blocks tried per swap round
# Work budgets in block × class cells, so that very many tiny blocks (where any random assignment is already
# close to stratified) cost seconds, not minutes; they depend on the sizes only, so a seed still gives one split.
MOVE_BUDGET = 4e7
SWAP_BUDGET = 4e6
RESTART_BLOCKS = 5000  # above this many blocks, fewer starts
GREEDY_BLOCKS = 20000  # above this many blocks the greedy start (a Python loop) is skipped


@dataclass(frozen=True)
class SplitSpec:
    """Split names and requested fractions (normalised to sum 1)."""

    names: tuple[str, ...]
    fractions: tuple[float, ...]

    @property
    def training(self) -> str:
        """The first split is the training split: the only one that gets sampler weights."""
        return self.names[0]


def parse_split_spec(names: str, fractions: str) -> SplitSpec:
    """`train,val,test` and `0.7,0.15,0.15` (or `70,15,15`: fractions are normalised) → a checked spec."""
    name_list = [n.strip() for n in str(names).replace(";", ",").split(",")]
    if any(not n for n in name_list):
        raise InvalidParameterError(f"Split names must be comma-separated, non-empty words; got {names!r}.")
    bad = [n for n in name_list if not SPLIT_NAME.fullmatch(n)]
    if bad:
        raise InvalidParameterError(
            f"Split names become file names (<name>.csv): use letters, digits, '_', '-' or '.', not {bad[0]!r}.")
    if len(set(name_list)) != len(name_list):
        raise InvalidParameterError(f"Split names must differ from each other; got {names!r}.")
    try:
        values = [float(v) for v in str(fractions).replace(";", ",").split(",") if v.strip()]
    except ValueError as exc:
        raise InvalidParameterError(f"Split fractions must be numbers such as 0.7,0.15,0.15; got {fractions!r}.") from exc
    if len(values) != len(name_list):
        raise InvalidParameterError(
            f"Give one fraction per split: {len(name_list)} names ({', '.join(name_list)}) but {len(values)} "
            f"fraction(s) ({fractions!r}).")
    if len(values) < 2:
        raise InvalidParameterError("A split needs at least two parts (e.g. train,val).")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise InvalidParameterError(f"Every split fraction must be a positive number; got {fractions!r}.")
    total = sum(values)
    return SplitSpec(tuple(name_list), tuple(v / total for v in values))


@dataclass(frozen=True)
class BlockStats:
    """What the search needs per block: labelled pixels per class and drawable patches."""

    class_pixels: np.ndarray  # (B, C) labelled pixels of each class in the block's drawable patches
    patches: np.ndarray  # (B,) drawable patches

    @classmethod
    def of(cls, block: np.ndarray, n_blocks: int, class_counts: np.ndarray, drawable: np.ndarray) -> "BlockStats":
        counts = np.asarray(class_counts, dtype=np.float64) * np.asarray(drawable, dtype=np.float64)[:, None]
        pixels = np.stack([np.bincount(block, weights=counts[:, j], minlength=n_blocks)
                           for j in range(counts.shape[1])], axis=1) if counts.shape[1] else np.zeros((n_blocks, 0))
        patches = np.bincount(block, weights=np.asarray(drawable, dtype=np.float64), minlength=n_blocks)
        return cls(pixels, patches)


@dataclass(frozen=True)
class SearchResult:
    split_of_block: np.ndarray  # (B,) split index per block
    objective: float
    class_term: float
    fraction_term: float
    missing: int  # (split, class) pairs missing although the class lies in ≥ S blocks
    restarts: int


class _Problem:
    """The normalised block contributions shared by every start."""

    def __init__(self, stats: BlockStats, fractions: np.ndarray) -> None:
        pixels = stats.class_pixels
        totals = pixels.sum(axis=0)
        present = totals > 0
        self.f = np.asarray(fractions, dtype=np.float64)
        self.S = len(self.f)
        self.B = len(stats.patches)
        self.X = pixels[:, present] / totals[present]  # (B, C') share of each class's pixels in the block
        self.C = max(int(present.sum()), 1)
        n = stats.patches.sum()
        self.Y = stats.patches / n if n > 0 else np.zeros(self.B)
        holds = pixels[:, present] > 0
        coverable = holds.sum(axis=0) >= self.S  # the data allow this class in every split
        self.H = (holds & coverable).astype(np.float64)  # (B, C') blocks holding a coverable class
        self.sqx = (self.X ** 2).sum(axis=1)
        self.inv_f = 1.0 / self.f

    def evaluate(self, split: np.ndarray) -> tuple[float, float, float, int]:
        onehot = np.zeros((self.B, self.S))
        onehot[np.arange(self.B), split] = 1.0
        a = onehot.T @ self.X
        class_term = float(((a - self.f[:, None]) ** 2 * self.inv_f[:, None]).sum() / self.C)
        fraction_term = float(((onehot.T @ self.Y - self.f) ** 2 * self.inv_f).sum())
        covered = onehot.T @ self.H
        missing = int(((covered == 0) & (self.H.sum(axis=0) > 0)[None, :]).sum())
        objective = class_term + FRACTION_WEIGHT * fraction_term + MISSING_WEIGHT * missing
        return objective, class_term, fraction_term, missing


class _State:
    """One assignment with its running totals, updated move by move."""

    def __init__(self, problem: _Problem, split: np.ndarray) -> None:
        self.p = problem
        self.split = split.astype(np.int64).copy()
        onehot = np.zeros((problem.B, problem.S))
        onehot[np.arange(problem.B), self.split] = 1.0
        self.A = onehot.T @ problem.X  # (S, C') allocation of each class
        self.n = onehot.T @ problem.Y  # (S,) fraction of drawable patches
        self.K = onehot.T @ problem.H  # (S, C') blocks holding each coverable class

    def move_deltas(self) -> np.ndarray:
        """(B, S) change of the objective when block b moves to split t (+inf for its own split)."""
        p, s = self.p, self.split
        rows = np.arange(p.B)
        D = self.A - p.f[:, None]
        XD = p.X @ D.T  # (B, S)
        inv_s = p.inv_f[s][:, None]
        cls = (p.sqx[:, None] * (inv_s + p.inv_f[None, :]) - 2 * inv_s * XD[rows, s][:, None]
               + 2 * p.inv_f[None, :] * XD) / p.C
        d = self.n - p.f
        y = p.Y[:, None]
        frac = y ** 2 * (inv_s + p.inv_f[None, :]) - 2 * inv_s * y * d[s][:, None] + 2 * p.inv_f[None, :] * y * d[None, :]
        lose = (p.H @ (self.K == 1).T)[rows, s][:, None]  # coverable classes the block's split would lose
        gain = p.H @ (self.K == 0).T  # coverable classes the target split would gain
        delta = cls + FRACTION_WEIGHT * frac + MISSING_WEIGHT * (lose - gain)
        delta[rows, s] = np.inf
        return delta

    def apply_move(self, b: int, t: int) -> None:
        p, s = self.p, self.split[b]
        self.A[s] -= p.X[b]
        self.A[t] += p.X[b]
        self.n[s] -= p.Y[b]
        self.n[t] += p.Y[b]
        self.K[s] -= p.H[b]
        self.K[t] += p.H[b]
        self.split[b] = t

    def swap_deltas(self, b: int) -> np.ndarray:
        """(B,) change of the objective when block b swaps splits with each other block (+inf: same split)."""
        p, split = self.p, self.split
        rows = np.arange(p.B)
        s = split[b]
        t = split  # the partner's split, per partner
        D = self.A - p.f[:, None]
        XD = p.X @ D.T  # (B, S)
        # z = X[b] − X[c] moves from s to t: Σz², z·D[s] and z·D[t] from products already at hand
        zz = p.sqx[b] + p.sqx - 2.0 * (p.X @ p.X[b])
        zs = XD[b, s] - XD[:, s]
        zt = XD[b, t] - XD[rows, t]
        inv_s, inv_t = p.inv_f[s], p.inv_f[t]
        cls = (zz * (inv_s + inv_t) - 2 * inv_s * zs + 2 * inv_t * zt) / p.C
        d = self.n - p.f
        y = p.Y[b] - p.Y
        frac = y ** 2 * (inv_s + inv_t) - 2 * inv_s * y * d[s] + 2 * inv_t * y * d[t]
        delta = cls + FRACTION_WEIGHT * frac
        # a class can only go missing or come back where some split holds it in at most one block
        critical = np.flatnonzero((p.H.sum(axis=0) > 0) & (self.K <= 1).any(axis=0))
        if len(critical):
            H, K = p.H[:, critical], self.K[:, critical]
            h = H[b][None, :] - H  # coverage moving from s to t
            miss = (((K[s][None, :] - h) == 0).sum(axis=1) - (K[s] == 0).sum()
                    + ((K[t] + h) == 0).sum(axis=1) - (K[t] == 0).sum(axis=1))
            delta = delta + MISSING_WEIGHT * miss
        delta[t == s] = np.inf
        return delta

    def apply_swap(self, b: int, c: int) -> None:
        s, t = self.split[b], self.split[c]
        self.apply_move(b, t)
        self.apply_move(c, s)


@dataclass(frozen=True)
class _Budget:
    restarts: int
    moves: int  # per round
    swaps: int  # candidate blocks per round
    greedy: bool

    @classmethod
    def of(cls, problem: "_Problem", restarts: int) -> "_Budget":
        cells = max(problem.B * problem.C, 1)
        fewer = max(2, int(restarts * RESTART_BLOCKS / problem.B)) if problem.B > RESTART_BLOCKS else restarts
        return cls(min(restarts, fewer), int(min(MAX_MOVES, max(20, MOVE_BUDGET / cells))),
                   int(min(SWAP_CANDIDATES, max(20, SWAP_BUDGET / cells))), problem.B <= GREEDY_BLOCKS)


def _descend(state: _State, rng: np.random.Generator, progress: Progress | None, budget: _Budget) -> None:
    """Best moves until none improves, then swaps of sampled blocks; again while swaps improve."""
    tol = 1e-12
    for _round in range(20):
        for _ in range(budget.moves):
            delta = state.move_deltas()
            flat = int(np.argmin(delta))
            if not delta.flat[flat] < -tol:
                break
            state.apply_move(*divmod(flat, state.p.S))
        if progress is not None:
            check_cancelled(progress)
        improved = False
        candidates = rng.permutation(state.p.B)[:budget.swaps]
        for b in candidates:
            delta = state.swap_deltas(int(b))
            c = int(np.argmin(delta))
            if delta[c] < -tol:
                state.apply_swap(int(b), c)
                improved = True
        if not improved:
            return


def random_assignment(stats: BlockStats, fractions, rng: np.random.Generator) -> np.ndarray:
    """Blocks in random order, cut where the drawable patches reach each fraction: the unstratified baseline."""
    fractions = np.asarray(fractions, dtype=np.float64)
    B = len(stats.patches)
    order = rng.permutation(B)
    total = stats.patches.sum()
    weights = stats.patches[order] if total > 0 else np.ones(B)
    middle = (np.cumsum(weights) - weights / 2.0) / weights.sum()  # each block's midpoint on [0, 1]
    cuts = np.cumsum(fractions)[:-1]
    split = np.empty(B, dtype=np.int64)
    split[order] = np.searchsorted(cuts, middle, side="right")
    return split


def greedy_assignment(problem: _Problem, rng: np.random.Generator) -> np.ndarray:
    """Rarest blocks first, each to the split that most wants what it holds (iterative stratification)."""
    rarity = problem.X.max(axis=1) if problem.X.shape[1] else np.zeros(problem.B)
    order = np.lexsort((rng.random(problem.B), -rarity))
    A = np.zeros((problem.S, problem.X.shape[1]))
    n = np.zeros(problem.S)
    split = np.empty(problem.B, dtype=np.int64)
    for b in order:
        want = (problem.f[:, None] - A) @ problem.X[b] / problem.C + (problem.f - n) * problem.Y[b]
        s = int(np.argmax(want))
        split[b] = s
        A[s] += problem.X[b]
        n[s] += problem.Y[b]
    return split


def assign_blocks(stats: BlockStats, fractions, seed: int = 42, restarts: int = RESTARTS,
                  progress: Progress | None = None) -> SearchResult:
    """The best assignment found from a greedy start and `restarts − 1` random starts, all seeded."""
    problem = _Problem(stats, np.asarray(fractions, dtype=np.float64))
    if problem.B == 0:
        raise InvalidParameterError("There are no blocks to split.")
    rng = np.random.default_rng(seed)
    budget = _Budget.of(problem, max(restarts, 1))
    best, best_score = None, None
    for r in range(budget.restarts):
        greedy = r == 0 and budget.greedy
        start = greedy_assignment(problem, rng) if greedy else random_assignment(stats, problem.f, rng)
        state = _State(problem, start)
        _descend(state, rng, progress, budget)
        score = problem.evaluate(state.split)
        if best_score is None or score[0] < best_score[0] - 1e-15:
            best, best_score = state.split.copy(), score
        if progress is not None:
            progress.set_fraction((r + 1) / budget.restarts)
    objective, class_term, fraction_term, missing = best_score
    return SearchResult(best, objective, class_term, fraction_term, missing, budget.restarts)


def score_assignment(stats: BlockStats, fractions, split_of_block: np.ndarray) -> tuple[float, float, float, int]:
    """(objective, class term, fraction term, missing pairs) of any assignment, e.g. a random baseline."""
    return _Problem(stats, np.asarray(fractions, dtype=np.float64)).evaluate(np.asarray(split_of_block))
