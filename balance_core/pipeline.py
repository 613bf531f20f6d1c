"""Orders the stages; each stage is a plain function over the patch table."""
from __future__ import annotations

import numpy as np

from .clustering import cluster_compositions
from .composition import measure_composition
from .config import BalanceConfig
from .embeddings import Embedder, compute_embeddings
from .exclusion import apply_exclusions, require_included
from .grid import make_grid
from .progress import NullProgress, Progress, SubProgress, check_cancelled
from .rasters import RasterPair, open_pair
from .table import PatchTable
from .uniqueness import compute_uniqueness
from .weights import compute_weights


def build_balanced_dataset(
    image_path: str,
    mask_path: str,
    config: BalanceConfig,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> tuple[PatchTable, RasterPair]:
    """Grid → composition → exclusions → clusters and/or embeddings + uniqueness → weights.

    `embedder` overrides the one the config names (tests and benchmarks pass their own).
    """
    progress = progress or NullProgress()
    config.validate()
    pair = open_pair(image_path, mask_path)
    table = make_grid(pair.width, pair.height, config.patch_size, config.effective_stride)
    table = table.with_columns(
        image_path=np.full(len(table), image_path, dtype=object),
        mask_path=np.full(len(table), mask_path, dtype=object),
    )
    progress.info(f"{len(table)} patches of {config.patch_size} px on a {pair.width}×{pair.height} px raster")
    # The embeddings dominate when they are computed; the mask stages then get a small slice.
    mask_end = 0.15 if config.needs_uniqueness else 0.7
    table = measure_composition(table, pair, config, SubProgress(progress, 0.0, mask_end))
    table = apply_exclusions(table, config)
    require_included(table)
    progress.info(f"{int(table['excluded'].sum())} patches excluded")
    if config.needs_clusters:
        cluster_end = mask_end + 0.05 if config.needs_uniqueness else 0.95
        table = cluster_compositions(table, config, SubProgress(progress, mask_end, cluster_end))
        mask_end = cluster_end
    if config.needs_uniqueness:
        table = compute_embeddings(table, pair, config, SubProgress(progress, mask_end, 0.9), embedder)
        table = compute_uniqueness(table, config, SubProgress(progress, 0.9, 0.99))
    check_cancelled(progress)
    table = compute_weights(table, config)
    progress.set_fraction(1.0)
    return table, pair
