"""Embeddings computed elsewhere, used instead of running a model.

Two sources:

- a Parquet file: the reference pipeline's cache (`tile_id`, `image_path`, `row_off`, `col_off`,
  `patch_size`, `embedding`, `dino_model`, …, as pytorch_segmentation_models_trainer's
  `embedding_extractor` writes it), Patch Balancer's own cache (`embedding_cache`), or any table with
  an image path, a window and a vector column (`tile_id` alone, `<image_path>_<row_off>_<col_off>`, works too);
- a vector column of the input table (a `dataset_explorer` PostGIS `vector`/array column, a CSV
  `embedding` field holding `[0.1, 0.2, …]`).

Vectors are matched to patches by **patch key** — the image path (made absolute, as the run reads it),
the window offsets and, where the source has it, the patch size — never by row position. Every included
patch must find exactly one vector, all of one dimension, all finite; otherwise the run stops and says
which patches are missing. Excluded patches need none (they take no part in uniqueness).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import CacheError, DependencyError, InvalidParameterError
from .progress import NullProgress, Progress
from .table import PatchTable

VECTOR_COLUMNS = ("embedding", "embeddings", "vector", "features")


def path_key(path: str) -> str:
    """The key of an image path: absolute (relative paths as the run resolves them: from the working folder),
    normalised, case-folded where the file system is."""
    return os.path.normcase(os.path.normpath(os.path.abspath(str(path))))


@dataclass(frozen=True)
class ExternalEmbeddings:
    """Vectors keyed by (image path key, row_off, col_off); `sizes` holds each row's patch size or -1 (unknown)."""

    source: str  # what to call it in messages
    image_keys: np.ndarray  # object array of path_key()s
    row_off: np.ndarray
    col_off: np.ndarray
    sizes: np.ndarray  # -1 where the source has no patch size
    vectors: np.ndarray  # (M, D) float32

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0


def parse_vector(value) -> np.ndarray | None:
    """One vector from what a table cell may hold: a list/array, JSON or pgvector text `[0.1,0.2]`, or a
    PostgreSQL array literal `{0.1,0.2}`; None for an empty cell."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.startswith("{") and text.endswith("}"):
            text = "[" + text[1:-1] + "]"
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise InvalidParameterError(f"An embedding cell is not a list of numbers: {value[:60]!r}…") from exc
    try:
        vector = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"An embedding cell is not a list of numbers: {str(value)[:60]!r}") from exc
    if vector.ndim != 1:
        raise InvalidParameterError(f"An embedding cell holds a {vector.ndim}-d array; expected a flat vector.")
    return vector


def _stack(vectors: Sequence[np.ndarray | None], source: str, labels: Sequence[str]) -> np.ndarray:
    """(M, D) float32; every vector present and of one length."""
    lengths = {}
    for i, v in enumerate(vectors):
        n = -1 if v is None else len(v)
        lengths.setdefault(n, i)
    if -1 in lengths:
        raise InvalidParameterError(f"{source}: the embedding of {labels[lengths[-1]]} is empty.")
    if len(lengths) > 1:
        dims = sorted(lengths)
        raise InvalidParameterError(
            f"{source}: embeddings of different dimensions ({', '.join(map(str, dims[:5]))}), e.g. "
            f"{dims[0]}-d for {labels[lengths[dims[0]]]} and {dims[-1]}-d for {labels[lengths[dims[-1]]]}: "
            "one run needs one model's embeddings.")
    if not vectors:
        return np.zeros((0, 0), dtype=np.float32)
    if 0 in lengths:
        raise InvalidParameterError(f"{source}: the embedding of {labels[lengths[0]]} has no value.")
    return np.stack(vectors).astype(np.float32, copy=False)


def from_columns(image_paths: Sequence, row_off: Sequence, col_off: Sequence, sizes: Sequence | None,
                 values: Sequence, source: str) -> ExternalEmbeddings:
    """Embeddings from parallel columns (e.g. a table's own vector column)."""
    n = len(values)
    rows = np.asarray(row_off, dtype=np.int64)
    cols = np.asarray(col_off, dtype=np.int64)
    size = np.asarray(sizes, dtype=np.int64) if sizes is not None else np.full(n, -1, dtype=np.int64)
    labels = [f"{image_paths[i]} row_off {rows[i]} col_off {cols[i]}" for i in range(n)]
    vectors = _stack([parse_vector(v) for v in values], source, labels)
    keys = np.array([path_key(p) for p in image_paths], dtype=object)
    return ExternalEmbeddings(source, keys, rows, cols, size, vectors)


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DependencyError("External embeddings in a Parquet file need pyarrow (`pip install pyarrow`, or the "
                              "[uniqueness] extra of patch-balancer).") from exc
    return pa, pq


def _list_vectors(column, pa) -> list[np.ndarray | None]:
    """Rows of a list / fixed-size list / text column as float32 vectors (None for a null)."""
    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_fixed_size_list(column.type):
        valid = np.asarray(column.is_valid())
        if pa.types.is_fixed_size_list(column.type):
            width = column.type.list_size
            flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
            starts = np.arange(len(column) + 1) * width
        else:
            flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
            offsets = column.offsets.to_numpy()
            starts = offsets - offsets[0]
        return [flat[starts[i]:starts[i + 1]] if valid[i] else None for i in range(len(column))]
    return [parse_vector(v) for v in column.to_pylist()]


def _split_tile_id(tile_id: str) -> tuple[str, int, int]:
    """`<image_path>_<row_off>_<col_off>` (the reference's `build_tile_id`) → its parts."""
    try:
        path, row, col = str(tile_id).rsplit("_", 2)
        return path, int(row), int(col)
    except ValueError as exc:
        raise InvalidParameterError(f"tile_id {tile_id!r} is not <image_path>_<row_off>_<col_off>.") from exc


def read_parquet(path: str, vector_column: str | None = None) -> ExternalEmbeddings:
    """Embeddings from a Parquet file (the reference's layout, Patch Balancer's cache, or alike)."""
    pa, pq = _pyarrow()
    if not os.path.isfile(path):
        raise InvalidParameterError(f"The external embeddings file {path!r} does not exist.")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise CacheError(f"The external embeddings file {path!r} cannot be read as Parquet ({exc}).") from exc
    names = table.column_names
    column = vector_column or next((c for c in VECTOR_COLUMNS if c in names), None)
    if column is None or column not in names:
        raise InvalidParameterError(
            f"{path!r} has no vector column {vector_column or ' / '.join(VECTOR_COLUMNS)!r} (columns: "
            f"{', '.join(names[:12])}); name it with uniqueness.embedding_column.")
    if "model_key" in names:  # Patch Balancer's own cache: one model and pre-processing at a time
        models = sorted(set(zip(table.column("model_key").to_pylist(), table.column("preprocess_key").to_pylist())))
        if len(models) > 1:
            raise InvalidParameterError(
                f"{path!r} is a Patch Balancer embeddings cache holding {len(models)} models or band settings "
                f"({'; '.join(m for m, _ in models[:3])}): use it as EMBEDDINGS_CACHE with the same embedder "
                "instead, or keep one model's rows.")
    if {"image_path", "row_off", "col_off"} <= set(names):
        images = [str(p) for p in table.column("image_path").to_pylist()]
        rows = table.column("row_off").to_pylist()
        cols = table.column("col_off").to_pylist()
    elif "tile_id" in names:
        parts = [_split_tile_id(t) for t in table.column("tile_id").to_pylist()]
        images, rows, cols = [p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts]
    else:
        raise InvalidParameterError(
            f"{path!r} has neither image_path + row_off + col_off nor tile_id columns: its rows cannot be matched "
            "to patches (they are never matched by row position).")
    sizes = table.column("patch_size").to_pylist() if "patch_size" in names else None
    if sizes is not None:
        sizes = [-1 if s is None else int(s) for s in sizes]
    vectors = _list_vectors(table.column(column), pa)
    labels = [f"{images[i]} row_off {rows[i]} col_off {cols[i]}" for i in range(len(images))]
    stacked = _stack(vectors, repr(path), labels)
    keys = np.array([path_key(p) for p in images], dtype=object)
    return ExternalEmbeddings(path, keys, np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64),
                              np.asarray(sizes if sizes is not None else [-1] * len(images), dtype=np.int64), stacked)


def _lookup(external: ExternalEmbeddings) -> dict:
    """(image key, row, col) → {size: source row}; one vector per key, or an error naming the clash."""
    out: dict = {}
    for i, key in enumerate(zip(external.image_keys.tolist(), external.row_off.tolist(), external.col_off.tolist())):
        by_size = out.setdefault(key, {})
        size = int(external.sizes[i])
        j = by_size.get(size)
        if j is not None and not np.array_equal(external.vectors[j], external.vectors[i]):
            raise InvalidParameterError(
                f"{external.source}: the window {key[0]} row_off {key[1]} col_off {key[2]}"
                f"{'' if size < 0 else f' size {size}'} has two different embeddings; keep one row per patch.")
        by_size.setdefault(size, i)
    return out


def match(table: PatchTable, external: ExternalEmbeddings) -> np.ndarray:
    """For each row of the table, the row of `external` holding its embedding, or -1."""
    lookup = _lookup(external)
    keys = {p: path_key(p) for p in set(table["image_path"].tolist())}
    hits = np.full(len(table), -1, dtype=np.int64)
    sizes = table["patch_size"] if "patch_size" in table else np.full(len(table), -1)
    for i, (image, row, col, size) in enumerate(zip(table["image_path"].tolist(), table["row_off"].tolist(),
                                                    table["col_off"].tolist(), np.asarray(sizes).tolist())):
        by_size = lookup.get((keys[image], int(row), int(col)))
        if by_size:
            hit = by_size.get(int(size), by_size.get(-1, -1))
            hits[i] = hit
    return hits


def attach_embeddings(table: PatchTable, external: ExternalEmbeddings, progress: Progress | None = None,
                      expected_dim: int | None = None) -> PatchTable:
    """The `embedding` column from external vectors: every included patch must have one (excluded rows are NaN)."""
    progress = progress or NullProgress()
    for name in ("image_path", "row_off", "col_off"):
        if name not in table:
            raise InvalidParameterError(f"External embeddings are matched by image path and window; the patches lack "
                                        f"the field {name}.")
    if expected_dim is not None and external.dim != expected_dim:
        raise InvalidParameterError(f"{external.source}: embeddings are {external.dim}-d, expected {expected_dim}-d.")
    hits = match(table, external)
    included = ~np.asarray(table["excluded"], dtype=bool)
    missing = np.flatnonzero(included & (hits < 0))
    if len(missing):
        i = missing[0]
        raise InvalidParameterError(
            f"{len(missing)} of {int(included.sum())} included patches have no embedding in {external.source} "
            f"(e.g. patch {int(table['patch_id'][i])}: {table['image_path'][i]} row_off {int(table['row_off'][i])} "
            f"col_off {int(table['col_off'][i])} size {int(table['patch_size'][i])}); its {len(external.vectors)} "
            "rows are matched by image path and window, never by row position. Compute the missing ones, or "
            "exclude those patches.")
    column = np.full((len(table), max(external.dim, 1)), np.nan, dtype=np.float32)
    rows = np.flatnonzero(included)
    column[rows] = external.vectors[hits[rows]]
    bad = rows[~np.isfinite(column[rows]).all(axis=1)]
    if len(bad):
        raise InvalidParameterError(f"{external.source}: {len(bad)} embedding(s) hold NaN or infinite values "
                                    f"(e.g. patch {int(table['patch_id'][bad[0]])}).")
    used = len(set(hits[rows].tolist()))
    progress.info(f"External embeddings: {len(rows)} included patches matched in {external.source} "
                  f"({external.dim}-d); {len(external.vectors) - used} of its rows match no included patch.")
    return table.with_columns(embedding=column)
