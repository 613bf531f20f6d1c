"""The output columns, in order, shared by the CSV writer and the QGIS layer writer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .exclusion import FLAG_COLUMNS
from .table import PatchTable

INT, FLOAT, TEXT = "int", "float", "text"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # INT, FLOAT or TEXT
    values: np.ndarray

    def as_list(self) -> list:
        """Python values for writers; a NaN float (no value, e.g. no uniqueness for an excluded patch) → None."""
        values = self.values.tolist()
        if self.kind == FLOAT:
            return [None if v != v else v for v in values]
        return values


def class_field(value: int) -> str:
    """`c_3` for class 3, `c_m1` for class -1 (field names cannot hold a minus sign)."""
    return f"c_{value}" if value >= 0 else f"c_m{-value}"


def output_columns(table: PatchTable) -> list[Column]:
    """Every column of the patch layer, in the documented order; a stage's columns appear once it ran.

    A table read from another source (e.g. a dataset_explorer table with no windows) simply
    lacks some of them.
    """
    cols = [Column("patch_id", INT, table["patch_id"])]
    cols += [Column(name, TEXT if name.endswith("_path") else INT, table[name])
             for name in ("image_path", "mask_path", "row_off", "col_off", "patch_size") if name in table]
    if table.class_counts is not None:
        fractions = table.fractions()
        cols += [Column(class_field(int(v)), FLOAT, fractions[:, j]) for j, v in enumerate(table.class_values)]
    cols += [Column(name, FLOAT, table[name]) for name in ("class_entropy", "nodata_ratio") if name in table]
    cols += [Column(name, INT, table[name].astype(np.int64)) for name in FLAG_COLUMNS if name in table]
    if "excluded" in table:
        cols.append(Column("excluded", INT, table["excluded"].astype(np.int64)))
    if "split" in table:  # train / val / test (splits.py)
        cols.append(Column("split", TEXT, table["split"]))
    if "freq_cluster_id" in table:  # not computed in mode embeddings_only
        cols += [
            Column("freq_cluster_id", INT, table["freq_cluster_id"]),
            Column("freq_cluster_size", INT, table["freq_cluster_size"]),
            Column("freq_cluster_weight", FLOAT, table["freq_cluster_weight"]),
        ]
    if "uniqueness_score" in table:  # computed in modes embeddings_only and both
        cols.append(Column("uniqueness_score", FLOAT, table["uniqueness_score"]))
    if "sampler_weight" in table:
        cols.append(Column("sampler_weight", FLOAT, table["sampler_weight"]))
    return cols


# Every field name the plugin writes (class fractions aside): what a step replaces on its input.
OWN_FIELDS = frozenset(
    ("patch_id", "image_path", "mask_path", "row_off", "col_off", "patch_size", "class_entropy", "nodata_ratio",
     "excluded", "freq_cluster_id", "freq_cluster_size", "freq_cluster_weight", "uniqueness_score",
     "sampler_weight", "class_dist_json", "split") + FLAG_COLUMNS
)


def class_dist_json(table: PatchTable) -> list[str]:
    """Per patch `{"1": 0.93, ...}`: the non-zero class fractions rounded to 6 decimals, as the reference's CSV
    holds them (json.dumps of each row's dict, compact separators).

    One implementation with the CSV writer (`writers.class_dist_texts`, built column by column from the
    non-zero cells: the same text, byte for byte, in a fraction of the time of a json.dumps per row).
    """
    from .writers import class_dist_texts  # writers imports this module

    return class_dist_texts(table)
