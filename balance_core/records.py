"""Patch records (the reference's `patch_records`, a CSV of them, a database table) → a patch table.

The reference's flag names (`has_mask_border_nodata`, …) are read as ours; columns that are neither ours nor
class fractions (a split, notes, an embedding) are *carried*: written back unchanged after our columns.
"""
from __future__ import annotations

from collections.abc import Mapping

from .patch_records import class_value, table_from_records
from .schema import OWN_FIELDS
from .table import PatchTable

REFERENCE_FLAGS = {"has_mask_border_nodata": "excl_border_nodata", "has_image_black_border": "excl_black_border",
                   "has_low_entropy": "excl_low_entropy", "has_high_nodata": "excl_nodata_ratio"}


def records_table(columns: Mapping[str, list], need_windows: bool = True) -> PatchTable:
    """The patch table of record columns; records without `patch_id` are numbered in row order."""
    columns = dict(columns)
    for theirs, ours in REFERENCE_FLAGS.items():
        if theirs in columns and ours not in columns:
            columns[ours] = columns[theirs]
    return table_from_records(columns, need_windows=need_windows)


def carried_columns(columns: Mapping[str, list]) -> dict[str, list]:
    """The columns of the records that are not ours: written back unchanged."""
    return {name: list(values) for name, values in columns.items()
            if name not in OWN_FIELDS and class_value(name) is None and name not in REFERENCE_FLAGS
            and name not in ("class_dist", "fid")}
