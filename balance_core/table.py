"""The patch table: one row per patch, one numpy array per column.

Every stage takes a table and returns a new one with more columns; nothing is mutated,
so a stage can be re-run or tested on its own. Per-class pixel counts are kept as one
2-D array (`class_counts`, rows = patches, columns = `class_values`) because the number
of classes is only known once the masks have been read.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class PatchTable:
    columns: dict[str, np.ndarray]
    class_values: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    class_counts: np.ndarray | None = None  # (n_patches, n_classes) labelled pixel counts
    # Fractions as read back from a patch layer: kept bit for bit, so a table rebuilt from a
    # layer clusters exactly as the one that wrote it (counts are then only reconstructed).
    stored_fractions: np.ndarray | None = None
    # What class_balance computed besides the weights (targets, achieved shares, limiting classes):
    # per class, not per patch, so it travels beside the columns (see calibration.CalibrationResult).
    calibration: object | None = None

    def __post_init__(self) -> None:
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns differ in length: {sorted(lengths)}")

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def with_columns(self, **new: np.ndarray) -> "PatchTable":
        for name, values in new.items():
            if len(values) != len(self):
                raise ValueError(f"column {name!r} has {len(values)} rows, table has {len(self)}")
        return replace(self, columns={**self.columns, **new})

    def with_classes(self, class_values: np.ndarray, class_counts: np.ndarray) -> "PatchTable":
        if class_counts.shape != (len(self), len(class_values)):
            raise ValueError("class_counts must be (n_patches, n_classes)")
        return replace(self, class_values=class_values, class_counts=class_counts, stored_fractions=None)

    def with_fractions(self, class_values: np.ndarray, fractions: np.ndarray, labelled: np.ndarray) -> "PatchTable":
        """Classes from per-patch fractions and labelled-pixel counts (a layer holds no raw counts)."""
        counts = fractions * np.asarray(labelled, dtype=np.float64)[:, None]
        return replace(self.with_classes(class_values, counts), stored_fractions=fractions)

    def take(self, rows: np.ndarray) -> "PatchTable":
        """The given rows (indices or boolean mask), in that order, with their class counts."""
        counts = self.class_counts[rows] if self.class_counts is not None else None
        stored = self.stored_fractions[rows] if self.stored_fractions is not None else None
        return PatchTable({k: v[rows] for k, v in self.columns.items()}, self.class_values, counts, stored)

    def fractions(self) -> np.ndarray:
        """Class fractions over the labelled pixels of each patch (0 where nothing is labelled)."""
        if self.stored_fractions is not None:
            return self.stored_fractions
        counts = self.class_counts.astype(np.float64)
        labelled = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, labelled, out=np.zeros_like(counts), where=labelled > 0)
