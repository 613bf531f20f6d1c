"""File outputs, written to a temporary file beside the target and moved into place.

A cancelled or failed run therefore never leaves a half-written file, and an existing
file is only replaced by a complete one.
"""
from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from collections.abc import Iterator

from .schema import FLOAT, class_dist_json, output_columns
from .table import PatchTable


@contextlib.contextmanager
def atomic_path(target: str) -> Iterator[str]:
    """Yield a temporary path in the target's folder; on success move it onto the target."""
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(target)[1]
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_csv(table: PatchTable, path: str) -> None:
    """The patch table as CSV, plus `class_dist_json`, for `WeightedRandomSampler` users."""
    columns = output_columns(table)
    dists = class_dist_json(table)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([c.name for c in columns] + ["class_dist_json"])
        formatted = [
            ["" if v is None else repr(v) for v in c.as_list()] if c.kind == FLOAT else [str(v) for v in c.as_list()]
            for c in columns
        ]
        for i, row in enumerate(zip(*formatted)):
            writer.writerow([*row, dists[i]])
