"""Uniqueness on 155,000 clustered random 768-d vectors: time, agreement with exact, peak memory.

Two data sets, both 300 clusters of Zipf-distributed sizes:
- embedding-like: each cluster has its own spread and varies along its own 24-d subspace, plus
  a little isotropic noise (image embeddings have a low intrinsic dimension);
- isotropic: every cluster is a ball of equal-spread noise in all 768 dimensions (the hard case
  for any approximate search: inside a cluster, all neighbours are about equally far).

Agreement is the Spearman correlation between our scores and the exact ones on 2,000 random
query rows (exact = brute force against all 155,000; the full exact run takes minutes here).
Peak memory is VmHWM during the uniqueness call alone (reset just before it).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from balance_core.uniqueness import uniqueness_scores, unit_rows  # noqa: E402


def clustered(n: int, dim: int, clusters: int, subspace: int | None, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    p = rng.zipf(1.6, clusters).astype(float)
    labels = rng.choice(clusters, n, p=p / p.sum())
    out = np.empty((n, dim), dtype=np.float32)
    spread = np.exp(rng.uniform(np.log(0.3), np.log(1.5), clusters)).astype(np.float32)
    for c in range(clusters):
        members = labels == c
        m = int(members.sum())
        if not m:
            continue
        if subspace:
            basis = rng.normal(size=(subspace, dim)).astype(np.float32) / np.sqrt(subspace)
            out[members] = centres[c] + 0.25 * np.sqrt(dim / subspace) * spread[c] * (
                rng.normal(size=(m, subspace)).astype(np.float32) @ basis)
        else:
            out[members] = centres[c] + 0.8 * rng.normal(size=(m, dim)).astype(np.float32)
    if subspace:
        out += rng.normal(scale=0.1, size=(n, dim)).astype(np.float32)
    return out


def exact_on_sample(vectors: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    unit = unit_rows(vectors)
    out = []
    for chunk in np.array_split(rows, 10):
        sims = unit[chunk] @ unit.T
        sims[np.arange(len(chunk)), chunk] = -np.inf
        out.append((1.0 + np.partition(-sims, k - 1, axis=1)[:, :k]).mean(axis=1))
    return np.concatenate(out)


def reset_peak() -> None:
    """Writing 5 to clear_refs resets VmHWM (Linux), so the peak measured is the stage's own."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak_mib() -> float:
    with open("/proc/self/status") as fh:
        return int(next(l for l in fh if l.startswith("VmHWM")).split()[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=155_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--backend", default="hnsw")
    args = parser.parse_args()
    rows = np.random.default_rng(1).choice(args.n, 2000, replace=False)
    for name, subspace in (("embedding-like", 24), ("isotropic", None)):
        vectors = clustered(args.n, args.dim, 300, subspace)
        reset_peak()
        before = peak_mib()
        start = time.perf_counter()
        scores = uniqueness_scores(vectors, args.k, args.backend)
        seconds = time.perf_counter() - start
        peak = peak_mib()
        rho = spearmanr(scores[rows], exact_on_sample(vectors, rows, args.k)).correlation
        print(f"{name:15s} N={args.n} D={args.dim} k={args.k} {args.backend}: {seconds:5.1f} s, "
              f"Spearman vs exact {rho:.4f}, peak RSS {peak:.0f} MiB "
              f"(+{peak - before:.0f} MiB over the {vectors.nbytes / 2**20:.0f} MiB of vectors already held)",
              flush=True)
        del vectors


if __name__ == "__main__":
    main()
