"""Exclusion rules: one flag per reason, `excluded` = any of them.

Excluded patches take no part in clustering or ranking and get weight 0. A patch with no
labelled pixel at all is always flagged under the nodata-ratio rule: it has no composition.
"""
from __future__ import annotations

import numpy as np

from .config import BalanceConfig
from .errors import AllExcludedError
from .table import PatchTable

FLAG_COLUMNS = ("excl_border_nodata", "excl_black_border", "excl_image_nodata", "excl_low_entropy", "excl_nodata_ratio",
                "excl_split_buffer")  # the last is set by the split (splits.py), not by these rules


def apply_exclusions(table: PatchTable, config: BalanceConfig) -> PatchTable:
    n = len(table)
    border_nodata = table["border_nodata"] if config.exclude_border_nodata else np.zeros(n, bool)
    black_border = table["border_black"] if config.exclude_black_border else np.zeros(n, bool)
    # image nodata (NaN or the band's nodata value) anywhere in the patch: nothing there to embed or learn from
    image_nodata = (
        table["image_nodata"] if config.exclude_image_nodata and "image_nodata" in table else np.zeros(n, bool)
    )
    low_entropy = (
        table["class_entropy"] < config.min_entropy if config.min_entropy is not None else np.zeros(n, bool)
    )
    ratio = table["nodata_ratio"]
    too_much_nodata = ratio >= 1.0
    if config.max_nodata_ratio is not None:
        too_much_nodata |= ratio > config.max_nodata_ratio
    excluded = border_nodata | black_border | image_nodata | low_entropy | too_much_nodata
    if "excl_split_buffer" in table:  # measured again after a split: the split's buffer still holds
        excluded = excluded | np.asarray(table["excl_split_buffer"], dtype=bool)
    return table.with_columns(
        excl_border_nodata=border_nodata,
        excl_black_border=black_border,
        excl_image_nodata=image_nodata,
        excl_low_entropy=low_entropy,
        excl_nodata_ratio=too_much_nodata,
        excluded=excluded,
    )


def require_included(table: PatchTable) -> None:
    """Fail with the count per reason when the rules leave nothing to weight."""
    if not table["excluded"].all():
        return
    reasons = ", ".join(f"{name[5:]}: {int(table[name].sum())}" for name in FLAG_COLUMNS if name in table)
    raise AllExcludedError(
        f"All {len(table)} patches are excluded ({reasons}). Relax the rules: untick the border "
        "and image nodata checks, raise the black tolerance, lower the minimum entropy, raise the maximum nodata "
        "ratio, or check the mask's nodata value (IGNORE_BAND_NODATA / NODATA)."
    )
