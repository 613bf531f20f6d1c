"""File outputs, written to a temporary file beside the target and moved into place.

A cancelled or failed run therefore never leaves a half-written file, and an existing
file is only replaced by a complete one (see `staged_outputs` for a whole run's outputs).
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
from collections.abc import Iterator

import numpy as np

from . import staged_outputs
from .calibration import loss_weights
from .class_balance import class_balance
from .errors import InvalidParameterError
from .schema import FLOAT, output_columns
from .table import PatchTable


@contextlib.contextmanager
def atomic_path(target: str, *, now: bool = False) -> Iterator[str]:
    """Yield a temporary path beside the target; the file there becomes the target when all went well.

    During a run (`staged_outputs.staging`) the file is only staged: it replaces the target when the
    whole run commits. Otherwise, or with `now` (the embeddings cache keeps finished work even when
    the run later fails), it replaces the target as soon as the block ends without an error.
    An existing target keeps its permissions; a new file gets the usual ones (0666 less the umask).
    """
    outputs = staged_outputs.active()
    if outputs is not None and not now:
        tmp = outputs.path_for(target)
        try:
            yield tmp
        except OSError as exc:
            raise staged_outputs.write_error(target, exc) from exc
        outputs.replace_on_commit(tmp, target)
        return
    folder = os.path.dirname(os.path.abspath(target))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise staged_outputs.write_error(target, exc) from exc
    tmp = staged_outputs.temporary_name(target)
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the umask applies, untouched
        yield tmp
        if os.path.exists(target):
            shutil.copymode(target, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise staged_outputs.write_error(target, exc) from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# The exclusion flags again under the names other tools read (e.g. pytorch_segmentation_models_trainer's
# coreset selection drops rows flagged True in these): name → our flags it stands for.
COMPATIBLE_FLAGS = {
    "has_mask_border_nodata": ("excl_border_nodata",),
    "has_image_black_border": ("excl_black_border", "excl_image_nodata"),  # the image's border is unusable
    "has_low_entropy": ("excl_low_entropy",),
    "has_high_nodata": ("excl_nodata_ratio",),
}


def compatible_flags(table: PatchTable) -> dict[str, list[str]]:
    """`True`/`False` per patch for each compatible flag whose source flags the table has."""
    out = {}
    for name, sources in COMPATIBLE_FLAGS.items():
        present = [table[s] for s in sources if s in table]
        if present:
            flags = np.logical_or.reduce([np.asarray(p, dtype=bool) for p in present])
            out[name] = np.where(flags, "True", "False").tolist()
    return out


# --- CSV, one column at a time ---------------------------------------------------------------------
# The text is what `csv.writer` (excel dialect: QUOTE_MINIMAL, CRLF) writes, byte for byte, but each column
# is formatted as a whole and the lines are joined once: row by row costs seconds at 150,000 patches
# (tests/core/test_csv_writer.py keeps the row-by-row writer as the reference).

_SPECIAL = (",", '"', "\r", "\n")


def _quoted(texts: list[str]) -> list[str]:
    """A column of texts as csv.writer writes them: quoted (quotes doubled) where one holds , " CR or LF."""
    joined = "".join(texts)
    if not any(c in joined for c in _SPECIAL):
        return texts
    return ['"' + t.replace('"', '""') + '"' if any(c in t for c in _SPECIAL) else t for t in texts]


def csv_text(header: list[str], columns: list[list[str]]) -> str:
    """The CSV of `columns` (texts, one list per column) under `header`."""
    if not header:  # csv.writer: an empty line per row
        return "\r\n" * (1 + (len(columns[0]) if columns else 0))
    head, body = _quoted([str(h) for h in header]), [_quoted(c) for c in columns]
    if len(header) == 1:  # a row of one empty field is written "" (else it would read as no row at all)
        lines = ['""' if t == "" else t for t in head + body[0]]
    else:
        lines = [",".join(head)] + list(map(",".join, zip(*body)))
    return "\r\n".join(lines) + "\r\n"


def _formatted(values: np.ndarray, format_one) -> list[str]:
    """`format_one` of every float64, computed once per distinct value (by bit pattern: 0.0 and -0.0 apart):
    fractions of equal-sized patches, cluster weights… repeat a lot."""
    bits = values.view(np.int64)
    unique, inverse = np.unique(bits, return_inverse=True)
    if len(unique) > 0.7 * len(values):
        return list(map(format_one, values.tolist()))
    texts = np.array(list(map(format_one, unique.view(np.float64).tolist())), dtype=object)
    return texts[inverse].tolist()


def _rounded_repr(value: float) -> str:
    return repr(round(value, 6))


def float_texts(values) -> list[str]:
    """Floats at full precision (Python's repr), NaN or None as an empty cell."""
    array = np.asarray(values)
    if array.dtype.kind == "f":
        texts = _formatted(array.astype(np.float64), repr)
        for i in np.flatnonzero(np.isnan(array)).tolist():
            texts[i] = ""
        return texts
    return ["" if v is None or v != v else repr(v) for v in (values.tolist() if hasattr(values, "tolist") else values)]


def column_texts(column) -> list[str]:
    """A `schema.Column` as the CSV holds it: floats at full precision (NaN empty), anything else as str()."""
    if column.kind == FLOAT:
        return float_texts(column.values)
    return list(map(str, column.as_list()))


def class_dist_texts(table: PatchTable) -> list[str]:
    """`schema.class_dist_json`, column by column: the same text (json of the non-zero fractions rounded to 6
    decimals), built from the non-zero cells only."""
    if table.class_counts is None:
        return ["{}"] * len(table)
    fractions = table.fractions()
    keys = [f'"{int(v)}":' for v in table.class_values]
    rows, cols = np.nonzero(fractions > 0)
    values = _formatted(np.ascontiguousarray(fractions[rows, cols], dtype=np.float64), _rounded_repr)
    pieces = list(map(str.__add__, [keys[c] for c in cols.tolist()], values))
    ends = np.cumsum(np.bincount(rows, minlength=len(fractions))).tolist()
    out, start = [], 0
    for end in ends:
        out.append("{" + ",".join(pieces[start:end]) + "}")
        start = end
    return out


def write_csv(table: PatchTable, path: str, carried: dict[str, list] | None = None) -> None:
    """The patch table as CSV, plus `class_dist_json` and the compatible flags, for `WeightedRandomSampler` users.

    `carried`: the input's own columns (a split, notes), written last, unchanged, where no column of ours has
    their name."""
    columns = output_columns(table)
    extra = {"class_dist_json": class_dist_texts(table), **compatible_flags(table)}
    taken = {c.name for c in columns} | set(extra)
    extra.update({name: ["" if v is None else str(v) for v in values]
                  for name, values in (carried or {}).items() if name not in taken})
    text = csv_text([c.name for c in columns] + list(extra), [column_texts(c) for c in columns] + list(extra.values()))
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        fh.write(text)


def loss_weights_document(table: PatchTable, names: dict[int, str] | None = None) -> dict:
    """Per class, the class weight the loss still needs after sampling, beside the one it would need without.

    `weights` (largest drawn share / class share, in class-value order) is ready for
    `torch.nn.CrossEntropyLoss(weight=torch.tensor(doc["weights"]))` when the class values are 0…C−1;
    `by_class` keys the same figures by class value, with names when known.
    """
    balance = class_balance(table.class_values, table.class_counts, table["sampler_weight"], table["excluded"])
    after, before = loss_weights(balance.weighted_share), loss_weights(balance.raw_share)
    calibration = table.calibration
    target = calibration.target_share if calibration is not None else None
    values = [int(v) for v in table.class_values]
    by_class = {}
    for i, value in enumerate(values):
        entry = {"weight": float(after[i]), "weight_without_sampling": float(before[i]),
                 "raw_share": float(balance.raw_share[i]), "drawn_share": float(balance.weighted_share[i])}
        if target is not None:
            entry["target_share"] = float(target[i])
        if names and value in names:
            entry = {"name": names[value], **entry}
        by_class[str(value)] = entry
    return {"class_values": values, "weights": [float(w) for w in after], "by_class": by_class,
            "note": "Class weights for the loss once WeightedRandomSampler draws with sampler_weight: the largest "
                    "drawn class share divided by each class's drawn share (0 for a class never drawn)."}


def write_loss_weights(table: PatchTable, path: str, names: dict[int, str] | None = None) -> None:
    if table.class_counts is None:
        raise InvalidParameterError("Loss weights need the class composition: run 'Compute class composition' first.")
    document = loss_weights_document(table, names)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def write_rows_csv(path: str, header: list[str], rows: list[list]) -> None:
    """A plain table as CSV (floats at full precision, None as an empty cell)."""
    columns = [["" if v is None else repr(v) if isinstance(v, float) else v if isinstance(v, str) else str(v)
                for v in column] for column in zip(*rows)] if rows else [[] for _ in header]
    if any(len(r) != len(header) for r in rows):
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:  # ragged: as csv has it
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(["" if v is None else repr(v) if isinstance(v, float) else v for v in row] for row in rows)
        return
    text = csv_text(list(header), columns)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        fh.write(text)
