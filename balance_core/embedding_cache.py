"""Parquet cache of patch embeddings, matched by key, never by row position.

A row's key is (image path, image file size + mtime, window, model key, pre-processing key):
a cache built for another model, other windows, other bands/scaling or a rewritten image is
simply not matched, and those patches are recomputed. New rows are appended by rewriting the
file atomically, keeping every row already there (other models' included).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import CacheError, DependencyError
from .writers import atomic_path

KEY_COLUMNS = ("image_path", "image_signature", "row_off", "col_off", "patch_size", "model_key", "preprocess_key")


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DependencyError(
            "The embeddings cache is a Parquet file and needs pyarrow (`pip install pyarrow==23.0.1`); "
            "leave the cache empty to run without it."
        ) from exc
    return pa, pq


def image_signature(path: str) -> str:
    stat = os.stat(path)
    return f"{stat.st_size}:{stat.st_mtime_ns}"


@dataclass(frozen=True)
class CacheKey:
    image_path: str
    image_signature: str
    model_key: str
    preprocess_key: str


def _read(path: str):
    pa, pq = _pyarrow()
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise CacheError(
            f"The embeddings cache {path!r} cannot be read as Parquet ({exc}); it was left untouched. "
            "Choose another cache file, or delete this one if it is yours."
        ) from exc
    missing = [c for c in (*KEY_COLUMNS, "embedding") if c not in table.column_names]
    if missing:
        raise CacheError(
            f"{path!r} is a Parquet file but not a Patch Balancer embeddings cache (no column "
            f"{', '.join(missing)}); it was left untouched. Choose another cache file."
        )
    return table


def _key_columns(table) -> dict[str, np.ndarray]:
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in KEY_COLUMNS}


def _same_settings(cols: dict[str, np.ndarray], key: CacheKey, size: int) -> np.ndarray:
    """Rows of this image, model, pre-processing and patch size (any image signature)."""
    return (
        (cols["image_path"] == key.image_path) & (cols["model_key"] == key.model_key)
        & (cols["preprocess_key"] == key.preprocess_key) & (cols["patch_size"] == size)
    )


def load(path: str | None, key: CacheKey, row_off: np.ndarray, col_off: np.ndarray, size: int):
    """Embeddings found for these windows: (found mask, (n_found, D) array in window order)."""
    found = np.zeros(len(row_off), dtype=bool)
    if not path or not os.path.exists(path):
        return found, None
    table = _read(path)
    cols = _key_columns(table)
    rows = np.flatnonzero(_same_settings(cols, key, size) & (cols["image_signature"] == key.image_signature))
    if len(rows) == 0:
        return found, None
    lookup = {(int(r), int(c)): i for i, (r, c) in enumerate(zip(cols["row_off"][rows], cols["col_off"][rows]))}
    hits = np.array([lookup.get((int(r), int(c)), -1) for r, c in zip(row_off, col_off)], dtype=np.int64)
    found = hits >= 0
    if not found.any():
        return found, None
    lists = table.column("embedding").combine_chunks().take(rows[hits[found]])
    offsets = lists.offsets.to_numpy()
    dims = set(np.diff(offsets).tolist())
    if len(dims) != 1:
        raise CacheError(f"The embeddings cache {path!r} holds rows of different lengths for one model.")
    values = lists.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return found, values.reshape(len(offsets) - 1, dims.pop())


def store(path: str, key: CacheKey, row_off: np.ndarray, col_off: np.ndarray, size: int, embeddings: np.ndarray) -> None:
    """Add rows for these windows, replacing older rows with the same key; atomic."""
    pa, pq = _pyarrow()
    n, dim = embeddings.shape
    flat = pa.array(np.ascontiguousarray(embeddings, dtype=np.float32).ravel())
    new = pa.table({
        "image_path": pa.array([key.image_path] * n, pa.string()),
        "image_signature": pa.array([key.image_signature] * n, pa.string()),
        "row_off": pa.array(row_off, pa.int64()),
        "col_off": pa.array(col_off, pa.int64()),
        "patch_size": pa.array(np.full(n, size), pa.int64()),
        "model_key": pa.array([key.model_key] * n, pa.string()),
        "preprocess_key": pa.array([key.preprocess_key] * n, pa.string()),
        "embedding": pa.ListArray.from_arrays(pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32)), flat),
    })
    if os.path.exists(path):
        old = _read(path).select(list(new.column_names)).cast(new.schema)
        same = np.zeros(old.num_rows, dtype=bool)
        cols = _key_columns(old)
        mine = _same_settings(cols, key, size)  # older signatures of these windows are stale: replaced
        if mine.any():
            windows = set(zip(row_off.tolist(), col_off.tolist()))
            idx = np.flatnonzero(mine)
            same[idx] = [(r, c) in windows for r, c in zip(cols["row_off"][idx].tolist(), cols["col_off"][idx].tolist())]
        new = pa.concat_tables([old.filter(pa.array(~same)), new])
    with atomic_path(path, now=True) as tmp:  # finished embeddings are kept even if the run fails later
        pq.write_table(new, tmp)
