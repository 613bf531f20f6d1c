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
        return replace(self, class_values=class_values, class_counts=class_counts)

    def fractions(self) -> np.ndarray:
        """Class fractions over the labelled pixels of each patch (0 where nothing is labelled)."""
        counts = self.class_counts.astype(np.float64)
        labelled = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, labelled, out=np.zeros_like(counts), where=labelled > 0)
