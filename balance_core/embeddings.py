"""The embedding stage: one vector per included patch, from the cache or the embedder."""
from __future__ import annotations

import os
import time
from typing import Protocol

import numpy as np

from . import embedding_cache
from .config import BalanceConfig
from .image_patches import band_scaling, choose_bands, iter_patch_batches
from .progress import Progress, check_cancelled, info_every
from .rasters import RasterPair
from .table import PatchTable


class Embedder(Protocol):
    key: str  # identity of the model and of how it sees pixels, for the cache

    def embed(self, unit: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 in 0..1 → (B, D) float32."""


def make_embedder(config: BalanceConfig) -> Embedder:
    if config.embedder.strip().lower() == "descriptor":
        from .descriptor import DescriptorEmbedder

        return DescriptorEmbedder()
    from .dinov2 import DinoEmbedder

    return DinoEmbedder(config.embedder, config.device, config.precision)


def compute_embeddings(
    table: PatchTable, pair: RasterPair, config: BalanceConfig, progress: Progress, embedder: Embedder | None = None,
    store=embedding_cache.store,
) -> PatchTable:
    """Add an `embedding` column (N, D); rows of excluded patches are NaN.

    Embeddings found in the cache are read; the rest are computed batch by batch and
    appended to the cache (`store`), also when the run is cancelled midway (the work is kept).
    """
    included = np.flatnonzero(~table["excluded"])
    row_off, col_off = table["row_off"][included], table["col_off"][included]
    size = int(table["patch_size"][0])
    bands = choose_bands(config.bands, pair.image_bands)
    scaling = band_scaling(pair.image_path, bands)
    embedder = embedder or make_embedder(config)
    key = embedding_cache.CacheKey(
        image_path=os.path.abspath(pair.image_path),
        image_signature=embedding_cache.image_signature(pair.image_path),
        model_key=embedder.key,
        preprocess_key=f"bands={','.join(map(str, bands))};scale={scaling.key()}",
    )
    found, cached = embedding_cache.load(config.embeddings_cache, key, row_off, col_off, size)
    todo = np.flatnonzero(~found)
    name = os.path.basename(pair.image_path)
    if config.embeddings_cache:
        info_every(progress, "embeddings cache", 0.0,
                   f"Embeddings cache: {int(found.sum())} of {len(found)} patches found, {len(todo)} to compute ({name})")
    done: list[np.ndarray] = []  # positions into `included`, one array per computed batch
    computed: list[np.ndarray] = []
    n_done, start = 0, time.perf_counter()
    try:
        for positions, raw in iter_patch_batches(
            pair.image_path, row_off[todo], col_off[todo], size, bands, config.batch_size, progress
        ):
            check_cancelled(progress)
            computed.append(embedder.embed(scaling.apply(raw)))
            done.append(todo[positions])
            n_done += len(positions)
            progress.set_fraction(n_done / len(todo))
            rate = n_done / max(time.perf_counter() - start, 1e-9)  # a line per 5 % of the run, not per batch
            info_every(progress, "embedded", n_done / len(todo),
                       f"Embedded {n_done:,} of {len(todo):,} patches of {name} ({rate:.1f} patches/s)")
    finally:
        if computed and config.embeddings_cache:
            idx = np.concatenate(done)
            store(config.embeddings_cache, key, row_off[idx], col_off[idx], size, np.concatenate(computed))
    parts = [(np.flatnonzero(found), cached)] if cached is not None else []
    if computed:
        parts.append((np.concatenate(done), np.concatenate(computed)))
    column = np.full((len(table), parts[0][1].shape[1] if parts else 1), np.nan, dtype=np.float32)
    for positions, vectors in parts:
        column[included[positions]] = vectors
    return table.with_columns(embedding=column)
