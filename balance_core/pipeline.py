"""Orders the stages; each stage is a plain function over the patch table.

The four step functions are what the Processing step algorithms run one by one (with the
table written to a patch layer in between); `build_balanced_dataset` runs them in one go,
so the chain and the one-shot give the same weights.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .clustering import cluster_compositions
from .config import BalanceConfig
from .dataset import Dataset, check_windows, dataset_footprints, dataset_grid, embed_dataset, measure_dataset_composition, open_dataset
from .dependencies import MENU_PATH, clusters_needed, clusters_possible
from .embeddings import Embedder
from .errors import AllExcludedError, InvalidParameterError
from .exclusion import apply_exclusions, require_included
from .external_embeddings import ExternalEmbeddings, attach_embeddings, read_parquet
from .progress import NullProgress, Progress, SubProgress, check_cancelled
from .splits import is_split, weigh_training_split
from .table import PatchTable
from .uniqueness import compute_uniqueness
from .weights import compute_weights

# Keeps some patches of the grid, given the table, its footprints (n, 5, 2) and their CRS (WKT): e.g. an area of interest.
Selector = Callable[[PatchTable, np.ndarray, str], np.ndarray]


def grid_step(dataset: Dataset, config: BalanceConfig, select: Selector | None = None) -> PatchTable:
    """Patch windows over every pair; `select` may drop some (their ids are not reused)."""
    table = dataset_grid(dataset, config)
    if select is not None:
        table = table.take(np.flatnonzero(select(table, dataset_footprints(table, dataset), dataset.crs_wkt)))
        if not len(table):
            raise AllExcludedError("No patch lies in the area of interest: check its extent and CRS.")
    return table


def composition_step(table: PatchTable, dataset: Dataset, config: BalanceConfig, progress: Progress) -> PatchTable:
    """Class fractions, entropy, nodata ratio and the exclusion flags."""
    check_windows(table, dataset)
    table = measure_dataset_composition(table, dataset, config, progress)
    return apply_exclusions(table, config)


def uniqueness_step(
    table: PatchTable, dataset: Dataset | None, config: BalanceConfig, progress: Progress,
    embedder: Embedder | None = None, external: ExternalEmbeddings | None = None,
) -> PatchTable:
    """Embeddings of the included patches (cache first), then their kNN uniqueness over the whole dataset.

    Embeddings computed elsewhere (`external`, or the Parquet file `config.external_embeddings`) are matched to
    the patches by image path and window and used instead of a model: no raster is read."""
    if external is None and config.external_embeddings:
        external = read_parquet(config.external_embeddings)
    if external is not None:
        table = attach_embeddings(table, external, progress)
        return compute_uniqueness(table, config, SubProgress(progress, 0.1, 1.0))
    check_windows(table, dataset)
    table = embed_dataset(table, dataset, config, SubProgress(progress, 0.0, 0.9), embedder)
    return compute_uniqueness(table, config, SubProgress(progress, 0.9, 1.0))


def weights_step(table: PatchTable, config: BalanceConfig, progress: Progress,
                 class_names: Mapping[int, str] | None = None, train_split: str | None = "train") -> PatchTable:
    """Composition clusters (when the mode has composition), then the sampler weights (and cap).

    `class_names` only words the log (e.g. which class limits the balance). A table with a `split`
    column is weighted on its `train_split` rows alone; the other splits get weight 0 (splits.py)."""
    if train_split is not None and is_split(table):
        return weigh_training_split(table, train_split,
                                    lambda part: weights_step(part, config, progress, class_names, None))
    require_included(table)
    if config.needs_uniqueness:
        missing = ~table["excluded"] & ~np.isfinite(np.asarray(table["uniqueness_score"], dtype=np.float64))
        if missing.any():
            raise InvalidParameterError(
                f"{int(missing.sum())} included patch(es) have no uniqueness_score (e.g. patch "
                f"{int(table['patch_id'][np.flatnonzero(missing)[0]])}): run 'Compute visual uniqueness' again "
                "after changing which patches are excluded."
            )
    if config.needs_clusters:
        if clusters_needed(config) or clusters_possible():
            table = cluster_compositions(table, config, progress)
        else:  # informational only with this method: skipped, not refused, where scikit-learn is missing
            progress.info("Composition clusters skipped: they need scikit-learn, which this Python lacks "
                          f"({MENU_PATH}, group 'Class balance and composition clusters'). The weights do "
                          f"not use them with sampling method {config.sampling_method}.")
    check_cancelled(progress)
    return compute_weights(table, config, progress, class_names)


def build_balanced_dataset(
    pairs: Sequence[tuple[str, str]],
    config: BalanceConfig,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
    select: Selector | None = None,
    class_names: Mapping[int, str] | None = None,
) -> tuple[PatchTable, Dataset]:
    """Grid → composition → exclusions → embeddings + uniqueness → clusters → weights, over all pairs.

    `embedder` overrides the one the config names (tests and benchmarks pass their own).
    """
    progress = progress or NullProgress()
    config.validate()
    dataset = open_dataset(pairs, progress)
    table = grid_step(dataset, config, select)
    progress.info(f"{len(table)} patches of {config.patch_size} px over {len(dataset.pairs)} raster pair(s)")
    # The embeddings dominate when they are computed; the mask stages then get a small slice.
    mask_end = 0.15 if config.needs_uniqueness else 0.7
    table = composition_step(table, dataset, config, SubProgress(progress, 0.0, mask_end))
    require_included(table)
    progress.info(f"{int(table['excluded'].sum())} patches excluded")
    if config.needs_uniqueness:
        table = uniqueness_step(table, dataset, config, SubProgress(progress, mask_end, 0.95), embedder)
    table = weights_step(table, config, SubProgress(progress, 0.95 if config.needs_uniqueness else mask_end, 1.0),
                         class_names)
    progress.set_fraction(1.0)
    return table, dataset
