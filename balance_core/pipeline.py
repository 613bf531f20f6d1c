"""Orders the stages; each stage is a plain function over the patch table."""
from __future__ import annotations

import numpy as np

from .clustering import cluster_compositions
from .composition import measure_composition
from .config import BalanceConfig
from .exclusion import apply_exclusions, require_included
from .grid import make_grid
from .progress import NullProgress, Progress, SubProgress, check_cancelled
from .rasters import RasterPair, open_pair
from .table import PatchTable
from .weights import compute_weights


def build_balanced_dataset(
    image_path: str, mask_path: str, config: BalanceConfig, progress: Progress | None = None
) -> tuple[PatchTable, RasterPair]:
    """Grid → composition → exclusions → clusters → weights, for one image/mask pair."""
    progress = progress or NullProgress()
    config.validate()
    pair = open_pair(image_path, mask_path)
    table = make_grid(pair.width, pair.height, config.patch_size, config.effective_stride)
    table = table.with_columns(
        image_path=np.full(len(table), image_path, dtype=object),
        mask_path=np.full(len(table), mask_path, dtype=object),
    )
    progress.info(f"{len(table)} patches of {config.patch_size} px on a {pair.width}×{pair.height} px raster")
    table = measure_composition(table, pair, config, SubProgress(progress, 0.0, 0.7))
    table = apply_exclusions(table, config)
    require_included(table)
    progress.info(f"{int(table['excluded'].sum())} patches excluded")
    table = cluster_compositions(table, config, SubProgress(progress, 0.7, 0.95))
    check_cancelled(progress)
    table = compute_weights(table, config)
    progress.set_fraction(1.0)
    return table, pair
