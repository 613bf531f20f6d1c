"""The output columns, in order, shared by the CSV writer and the QGIS layer writer."""
from __future__ import annotations

import json
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
    """Every column of the patch layer, in the documented order."""
    fractions = table.fractions()
    cols = [
        Column("patch_id", INT, table["patch_id"]),
        Column("image_path", TEXT, table["image_path"]),
        Column("mask_path", TEXT, table["mask_path"]),
        Column("row_off", INT, table["row_off"]),
        Column("col_off", INT, table["col_off"]),
        Column("patch_size", INT, table["patch_size"]),
    ]
    cols += [Column(class_field(int(v)), FLOAT, fractions[:, j]) for j, v in enumerate(table.class_values)]
    cols += [
        Column("class_entropy", FLOAT, table["class_entropy"]),
        Column("nodata_ratio", FLOAT, table["nodata_ratio"]),
    ]
    cols += [Column(name, INT, table[name].astype(np.int64)) for name in FLAG_COLUMNS]
    cols.append(Column("excluded", INT, table["excluded"].astype(np.int64)))
    if "freq_cluster_id" in table:  # not computed in mode embeddings_only
        cols += [
            Column("freq_cluster_id", INT, table["freq_cluster_id"]),
            Column("freq_cluster_size", INT, table["freq_cluster_size"]),
            Column("freq_cluster_weight", FLOAT, table["freq_cluster_weight"]),
        ]
    if "uniqueness_score" in table:  # computed in modes embeddings_only and both
        cols.append(Column("uniqueness_score", FLOAT, table["uniqueness_score"]))
    cols.append(Column("sampler_weight", FLOAT, table["sampler_weight"]))
    return cols


def class_dist_json(table: PatchTable) -> list[str]:
    """Per patch `{"1": 0.93, ...}`: the non-zero class fractions, as the reference's CSV holds them."""
    fractions = table.fractions()
    keys = [str(int(v)) for v in table.class_values]
    return [
        json.dumps({k: round(float(f), 6) for k, f in zip(keys, row) if f > 0}, separators=(",", ":"))
        for row in fractions
    ]
