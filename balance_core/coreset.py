"""Core-set selection: the reference's six methods (Nogueira et al. 2026, as pytorch_segmentation_models_trainer's
`tools/coreset` computes them), a budget as a fraction or a count, and class_balance weights over the selection.

Every method scores the patches of the *pool* (the included patches) in [0, 1]; the budget takes the highest scores.
Excluded patches are never in the pool, so never selected, and get no score.

| method  | score, as the reference's code computes it |
|---------|--------------------------------------------|
| `lc`    | label complexity: class entropy / the pool's largest class entropy (0 everywhere when all are 0) |
| `cb`    | class balance: greedy — repeatedly add the patch whose class fractions, added to the sum of those chosen, give the highest entropy of the summed class shares; the t-th chosen of N scores (N − t)/(N − 1); it stops at the budget, the rest score 0 |
| `fa`    | feature activation: per patch, μ and σ of its embedding's values; γ = −(1 − μ)·ln(σ + 1e−12); score = 1 − (γ − min γ)/(max γ − min γ) (0 everywhere when all γ are within 1e−8) |
| `fd`    | feature diversity: KMeans on the embeddings (K by the elbow of the inertia over [fd_k_min, min(fd_k_max, N − 1)], or by the Vendi score), then round robin over the clusters in a random order (each cluster shuffled, seed 42): the i-th taken scores (N − 1 − i)/(N − 1) |
| `lc_fd` | the m best by fd (m = lc_fd_cutoff_m, else 10 % of N), then the rest by lc; position i scores (N − 1 − i)/(N − 1) |
| `fa_cb` | λ·fa + (1 − λ)·cb (λ = fa_cb_lambda) |

Where the reference's documentation and code disagree (its `fa`), this follows the code. Ties: the reference
orders equal scores with numpy's default (unstable) sort, so which of two equal patches is taken depends on the
sort's internals; here equal scores are taken in row order (a stable sort). Without ties the selection is the
reference's.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .errors import InvalidParameterError
from .exclusion import FLAG_COLUMNS
from .progress import NullProgress, Progress, check_cancelled
from .table import PatchTable

METHODS = ("lc", "cb", "fa", "fd", "lc_fd", "fa_cb")
EMBEDDING_METHODS = ("fa", "fd", "lc_fd", "fa_cb")
SEED = 42  # the reference's fixed random_state


@dataclass(frozen=True)
class CoresetSettings:
    method: str = "lc"
    budget: float = 0.5
    budget_mode: str = "fraction"  # or "count"
    fd_k_min: int = 2
    fd_k_max: int = 20
    fd_vendi_delta: float = 0.005
    fd_use_vendi: bool = False
    lc_fd_cutoff_m: int | None = None
    fa_cb_lambda: float = 0.5
    cb_use_spatial: bool = False
    fd_use_spatial: bool = False
    exclude_low_entropy: bool = True
    seed: int = SEED

    def validate(self) -> "CoresetSettings":
        if self.method not in METHODS:
            raise InvalidParameterError(f"Unknown core-set method {self.method!r}; choose one of {', '.join(METHODS)}.")
        if self.budget_mode not in ("fraction", "count"):
            raise InvalidParameterError(f"The budget is a fraction or a count, got {self.budget_mode!r}.")
        if self.budget_mode == "fraction" and not 0 < self.budget <= 1:
            raise InvalidParameterError(f"A budget fraction must be in (0, 1], got {self.budget}.")
        if self.budget_mode == "count" and self.budget < 1:
            raise InvalidParameterError(f"A budget count must be at least 1, got {self.budget}.")
        if not 0 <= self.fa_cb_lambda <= 1:
            raise InvalidParameterError(f"fa_cb_lambda must be in [0, 1], got {self.fa_cb_lambda}.")
        if self.fd_k_min < 1 or self.fd_k_max < 1:
            raise InvalidParameterError("fd_k_min and fd_k_max must be at least 1.")
        return self


def budget_count(settings: CoresetSettings, n: int) -> int:
    """How many patches the budget takes from a pool of n (at least 1, at most n), as the reference counts."""
    count = int(settings.budget * n) if settings.budget_mode == "fraction" else int(settings.budget)
    return min(max(1, count), n)


def pool_mask(table: PatchTable, exclude_low_entropy: bool = True) -> np.ndarray:
    """The patches that may be selected: not excluded. With `exclude_low_entropy` False, a patch excluded only for
    its low class entropy stays in the pool (the reference's option of that name)."""
    excluded = np.asarray(table["excluded"], dtype=bool) if "excluded" in table else np.zeros(len(table), bool)
    if exclude_low_entropy or "excl_low_entropy" not in table:
        return ~excluded
    flags = [np.asarray(table[name], dtype=bool) for name in FLAG_COLUMNS if name in table]
    other = np.logical_or.reduce([np.asarray(table[n], dtype=bool) for n in FLAG_COLUMNS
                                  if n in table and n != "excl_low_entropy"] or [np.zeros(len(table), bool)])
    by_hand = excluded & ~np.logical_or.reduce(flags)  # set to excluded by the analyst, for no flagged reason
    no_label = table.fractions().sum(axis=1) <= 0 if table.class_counts is not None else np.zeros(len(table), bool)
    return ~(other | by_hand | no_label)


def class_entropy_of(table: PatchTable) -> np.ndarray:
    """`class_entropy` (nats), empty values as 0, as the reference's lc reads it; from the fractions where absent."""
    if "class_entropy" in table:
        values = np.asarray(table["class_entropy"], dtype=np.float64)
        return np.where(np.isfinite(values), values, 0.0)
    if table.class_counts is None:
        raise InvalidParameterError("lc needs class_entropy or the class fractions (c_<value> or class_dist_json).")
    from .composition import class_entropy

    return class_entropy(table.fractions())


# --- the scores -----------------------------------------------------------------------------------

def score_lc(entropy: np.ndarray) -> np.ndarray:
    entropy = np.asarray(entropy, dtype=np.float64)
    top = entropy.max() if len(entropy) else 0.0
    return entropy / top if top != 0 else np.zeros(len(entropy))


def score_cb(fractions: np.ndarray, count: int, progress: Progress | None = None) -> np.ndarray:
    """Greedy class-entropy maximisation, stopped after `count` picks (the others score 0)."""
    progress = progress or NullProgress()
    fractions = np.asarray(fractions, dtype=np.float64)
    n = len(fractions)
    if n == 1:
        return np.ones(1)
    rank = np.zeros(n)
    chosen = np.zeros(n, dtype=bool)
    total = np.zeros(fractions.shape[1])
    for t in range(1, count + 1):
        if t % 64 == 0:
            check_cancelled(progress)
            progress.set_fraction(t / count)
        left = np.flatnonzero(~chosen)
        candidates = total + fractions[left]
        sums = candidates.sum(axis=1, keepdims=True)
        shares = candidates / np.where(sums == 0, 1.0, sums)
        entropy = -np.sum(shares * np.log(shares + 1e-12), axis=1)
        best = left[int(np.argmax(entropy))]  # the first of equal entropies, as the reference
        rank[best] = n - t
        chosen[best] = True
        total += fractions[best]
    return rank / (n - 1)


def score_fa(embeddings: np.ndarray) -> np.ndarray:
    """The reference's code: γ = −(1 − μ)·ln(σ + 1e−12) over each embedding's values, inverted min-max."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    mu = vectors.mean(axis=1).astype(np.float64)  # float32 statistics, as the reference computes them
    sigma = vectors.std(axis=1).astype(np.float64)
    gamma = -(1.0 - mu) * np.log(sigma + 1e-12)
    low, high = float(gamma.min()), float(gamma.max())
    if high - low < 1e-8:
        return np.zeros(len(vectors))
    return np.clip(1.0 - (gamma - low) / (high - low), 0.0, 1.0)


def select_k_elbow(inertias: list[float], k_min: int) -> int:
    """The K of largest distance from the chord of the min-max-normalised inertia curve (the reference's rule)."""
    if len(inertias) == 1:
        return k_min
    x = np.arange(len(inertias), dtype=float)
    y = np.asarray(inertias, dtype=float)
    xn = (x - x.min()) / (x.max() - x.min() + 1e-12)
    yn = (y - y.min()) / (y.max() - y.min() + 1e-12)
    dx, dy = xn[-1] - xn[0], yn[-1] - yn[0]
    distance = np.abs(dy * xn - dx * yn + dx * yn[0] - dy * xn[0]) / (np.sqrt(dx ** 2 + dy ** 2) + 1e-12)
    return k_min + int(np.argmax(distance))


def _kmeans(k: int, seed: int):
    from .dependencies import require

    return require("sklearn.cluster", "core-set methods fd and lc_fd (KMeans)").KMeans(
        n_clusters=k, random_state=seed, n_init="auto")


def vendi_score(vectors: np.ndarray) -> float:
    """exp(entropy of the eigenvalues of the trace-normalised cosine kernel) (Friedman & Dieng 2023)."""
    unit = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-8)
    kernel = unit @ unit.T
    trace = np.trace(kernel)
    if trace <= 0:
        return 1.0
    eig = np.linalg.eigvalsh(kernel / trace)
    eig = eig[eig > 1e-10]
    return float(np.exp(-np.sum(eig * np.log(eig))))


def select_k_vendi(vectors: np.ndarray, k_min: int = 2, delta: float = 0.005, max_subsample: int = 200,
                   seed: int = SEED) -> int:
    """K from the mean per-cluster Vendi score: the last K that still improved it by ≥ delta before three
    steps in a row did not (K from max(k_min, 2) to min(N − 1, 50)), as the reference."""
    n = len(vectors)
    k_min = max(k_min, 2)
    k_max = min(n - 1, 50)
    if k_min >= k_max:
        return k_min
    rng = np.random.RandomState(seed)
    previous, stalled, best = None, 0, k_min
    for k in range(k_min, k_max + 1):
        labels = _kmeans(k, seed).fit_predict(vectors)
        scores = []
        for c in range(k):
            members = vectors[labels == c]
            if len(members) < 2:
                scores.append(1.0)
                continue
            if len(members) > max_subsample:
                members = members[rng.choice(len(members), max_subsample, replace=False)]
            scores.append(vendi_score(members))
        mean = float(np.mean(scores))
        if previous is not None:
            if mean - previous < delta:
                stalled += 1
                if stalled >= 3:
                    break
            else:
                stalled, best = 0, k
        previous = mean
    return best


def round_robin_rank(cluster_ids: np.ndarray, k: int, seed: int = SEED) -> np.ndarray:
    """Ranks N − 1 … 0 taken one cluster at a time, clusters in a random order, each cluster shuffled."""
    n = len(cluster_ids)
    rng = np.random.RandomState(seed)
    members: dict[int, list[int]] = {c: [] for c in range(k)}
    for i, c in enumerate(np.asarray(cluster_ids).tolist()):
        members[int(c)].append(i)
    queues = []
    for c in rng.permutation(k).tolist():
        queue = list(members[c])
        rng.shuffle(queue)
        queues.append(queue)
    rank = np.zeros(n)
    t = n - 1
    while any(queues):
        for queue in queues:
            if queue and t >= 0:
                rank[queue.pop(0)] = t
                t -= 1
    return rank


def score_fd(embeddings: np.ndarray, settings: CoresetSettings, progress: Progress | None = None) -> np.ndarray:
    progress = progress or NullProgress()
    vectors = np.asarray(embeddings)
    n = len(vectors)
    if n <= 1:
        return np.ones(n)
    k_min = min(settings.fd_k_min, n)  # more clusters than patches: KMeans cannot (the reference fails there)
    k_max = min(max(min(settings.fd_k_max, n - 1), settings.fd_k_min), n)
    if settings.fd_use_vendi:
        k = select_k_vendi(vectors, settings.fd_k_min, settings.fd_vendi_delta, seed=settings.seed)
    else:
        inertias = []
        for i, ki in enumerate(range(k_min, k_max + 1)):
            check_cancelled(progress)
            inertias.append(_kmeans(ki, settings.seed).fit(vectors).inertia_)
            progress.set_fraction(0.9 * (i + 1) / (k_max - k_min + 1))
        k = select_k_elbow(inertias, k_min)
    k = min(max(k, 1), n)
    labels = _kmeans(k, settings.seed).fit(vectors).labels_
    return round_robin_rank(labels, k, settings.seed) / max(n - 1, 1)


def order_scores(order: np.ndarray, n: int) -> np.ndarray:
    """Position i of an ordering scores (n − 1 − i)/(n − 1)."""
    score = np.zeros(n)
    score[order] = (n - 1 - np.arange(len(order))) / max(n - 1, 1)
    return score


def score_lc_fd(entropy: np.ndarray, embeddings: np.ndarray, settings: CoresetSettings,
                progress: Progress | None = None) -> np.ndarray:
    n = len(entropy)
    m = settings.lc_fd_cutoff_m if settings.lc_fd_cutoff_m is not None else int(0.1 * n)
    m = max(1, min(m, n))
    fd = score_fd(embeddings, settings, progress)
    lc = score_lc(entropy)
    top = np.argsort(-fd, kind="stable")[:m]
    rest = np.setdiff1d(np.arange(n), top)  # ascending row order
    rest = rest[np.argsort(-lc[rest], kind="stable")]
    return order_scores(np.concatenate([top, rest]), n)


# --- selection -------------------------------------------------------------------------------------

def spatial_features(bounds: np.ndarray) -> np.ndarray:
    """(lat_norm, lon_norm): the footprint centres, min-max normalised over the pool (the reference's spatial flags)."""
    bounds = np.asarray(bounds, dtype=np.float64)  # columns minx, miny, maxx, maxy
    lat = (bounds[:, 1] + bounds[:, 3]) / 2.0
    lon = (bounds[:, 0] + bounds[:, 2]) / 2.0

    def norm(a):
        span = a.max() - a.min() if len(a) else 0.0
        return np.zeros_like(a) if span < 1e-10 else (a - a.min()) / span

    return np.column_stack([norm(lat), norm(lon)])


def coreset_scores(table: PatchTable, settings: CoresetSettings, pool: np.ndarray, embeddings: np.ndarray | None = None,
                   bounds: np.ndarray | None = None, progress: Progress | None = None) -> np.ndarray:
    """The method's score of every pool patch, in pool order (`pool` a boolean mask of the table's rows).

    `embeddings` (rows of the pool, in order) is needed by fa, fd, lc_fd and fa_cb; `bounds` (minx, miny, maxx,
    maxy of the pool's footprints) by the spatial flags."""
    progress = progress or NullProgress()
    settings.validate()
    rows = np.flatnonzero(pool)
    n = len(rows)
    if n == 0:
        raise InvalidParameterError("Every patch is excluded: there is nothing to select from.")
    method = settings.method
    if method in EMBEDDING_METHODS:
        if embeddings is None:
            raise InvalidParameterError(f"Core-set method {method} scores image embeddings: give an embedding column "
                                        "or a Parquet file of embeddings.")
        vectors = np.asarray(embeddings, dtype=np.float32)
        if len(vectors) != n:
            raise ValueError("embeddings must hold one row per pool patch")
        if settings.fd_use_spatial:
            if bounds is None:
                raise InvalidParameterError("fd_use_spatial needs the patches' footprints (tile_minx/maxx/miny/maxy "
                                            "columns, or readable rasters).")
            vectors = np.hstack([vectors.astype(np.float64), spatial_features(bounds)])
    sub = table.take(rows)
    if method in ("lc", "lc_fd"):
        entropy = class_entropy_of(sub)
    if method in ("cb", "fa_cb"):
        if sub.class_counts is None:
            raise InvalidParameterError(f"Core-set method {method} needs the class fractions (class_dist_json or "
                                        "c_<value> columns).")
        fractions = sub.fractions()
        if settings.cb_use_spatial:
            if bounds is None:
                raise InvalidParameterError("cb_use_spatial needs the patches' footprints (tile_minx/maxx/miny/maxy "
                                            "columns, or readable rasters).")
            fractions = np.hstack([fractions, spatial_features(bounds)])
        cb = lambda: score_cb(fractions, budget_count(settings, n), progress)  # noqa: E731
    if method == "lc":
        return score_lc(entropy)
    if method == "cb":
        return cb()
    if method == "fa":
        return score_fa(vectors)
    if method == "fd":
        return score_fd(vectors, settings, progress)
    if method == "lc_fd":
        return score_lc_fd(entropy, vectors, settings, progress)
    lam = settings.fa_cb_lambda
    return lam * score_fa(vectors) + (1.0 - lam) * cb()


def select_coreset(table: PatchTable, settings: CoresetSettings, embeddings: np.ndarray | None = None,
                   bounds: np.ndarray | None = None, progress: Progress | None = None,
                   score_column: str = "coreset_score") -> PatchTable:
    """`coreset_score` (empty outside the pool) and `coreset_selected` (the budget's best scores of the pool)."""
    progress = progress or NullProgress()
    pool = pool_mask(table, settings.exclude_low_entropy)
    scores = coreset_scores(table, settings, pool, embeddings, bounds, progress)
    rows = np.flatnonzero(pool)
    count = budget_count(settings, len(rows))
    best = rows[np.argsort(-scores, kind="stable")[:count]]
    column = np.full(len(table), np.nan)
    column[rows] = scores
    selected = np.zeros(len(table), dtype=bool)
    selected[best] = True
    progress.info(f"Core-set ({settings.method}): {count} of {len(rows)} selectable patches selected "
                  f"({len(table) - len(rows)} excluded never are).")
    return table.with_columns(**{score_column: column, "coreset_selected": selected})


def selected_class_balance(table: PatchTable, config, progress: Progress | None = None,
                           class_names=None) -> PatchTable:
    """class_balance weights computed over the selected patches only: the others get 0; the selected ones have
    mean 1 (expected draws per epoch of WeightedRandomSampler with num_samples = the number selected)."""
    from .weights import compute_weights

    if table.class_counts is None:
        raise InvalidParameterError("Recomputing class_balance weights needs the class fractions.")
    selected = np.asarray(table["coreset_selected"], dtype=bool)
    sub = table.take(np.flatnonzero(selected))
    sub = sub.with_columns(excluded=np.zeros(len(sub), dtype=bool))
    config = replace(config, method="class_balance", mode="masks_only")  # uniqueness, when present, is the base
    weighted = compute_weights(sub, config.validate(), progress, class_names)
    weights = np.zeros(len(table))
    weights[selected] = weighted["sampler_weight"]
    return replace(table.with_columns(sampler_weight=weights), calibration=weighted.calibration)
