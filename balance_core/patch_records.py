"""A patch table rebuilt from a patch layer's attributes (any vector source: GeoPackage, PostGIS…).

The step algorithms hand each other patch layers, which an analyst may inspect and edit in
between (delete patches, set `excluded`, add fields). This module turns the attribute columns
back into a table: the windows (`image_path`, `mask_path`, `row_off`, `col_off`, `patch_size`),
the composition (one `c_<value>` fraction per class, or a `class_dist_json` text as the
reference's CSV and dataset_explorer tables hold it), `excluded` and `uniqueness_score`.

An edited layer is checked before any step uses it, and refused with the patch ids at fault:
text in a numeric field, an empty or repeated `patch_id`, a window with a negative offset or
size, class fractions outside [0, 1], or fractions that do not sum to 1. Fractions are shares
of a patch's *labelled* pixels, so they sum to 1 whatever its `nodata_ratio` (0 for a patch with
no labelled pixel): a deleted `c_<value>` field leaves the patches of that class short.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

import numpy as np

from .errors import InvalidParameterError
from .exclusion import FLAG_COLUMNS
from .table import PatchTable

WINDOW_FIELDS = ("image_path", "mask_path", "row_off", "col_off", "patch_size")
JSON_FIELDS = ("class_dist_json", "class_dist")
_CLASS_FIELD = re.compile(r"^c_(m?)(\d+)$")


def describe_ids(ids: Sequence, limit: int = 5) -> str:
    """`patch 7` / `patches 3, 8, 11, 14, 20 and 12 more`: the patches at fault, for an error message."""
    ids = [str(i) for i in ids]
    if len(ids) == 1:
        return f"patch {ids[0]}"
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return f"patches {', '.join(ids[:limit])}{more}"


def class_value(field: str) -> int | None:
    """The class of a `c_3` / `c_m1` field name, else None."""
    match = _CLASS_FIELD.match(field)
    if not match:
        return None
    return -int(match.group(2)) if match.group(1) else int(match.group(2))


def has_composition(names: Sequence[str]) -> bool:
    return any(class_value(n) is not None for n in names) or any(n in names for n in JSON_FIELDS)


FRACTION_TOLERANCE = 1e-3  # a row of fractions may miss 1 by this much (class_dist_json rounds to 6 decimals)


def _rows(rows: np.ndarray, ids: np.ndarray | None) -> str:
    """The patches at these row positions: by patch id, or by 1-based row number while ids are unknown."""
    if ids is None:
        rows = [int(r) + 1 for r in rows]
        return f"row {rows[0]}" if len(rows) == 1 else describe_ids(rows).replace("patches", "rows", 1)
    return describe_ids(ids[rows])


def _blank(value) -> bool:
    """No value: NULL, or an empty cell of a CSV (the trainer's CSV leaves class_entropy empty for all-nodata patches)."""
    return value is None or (isinstance(value, str) and not value.strip())


_NUMBER_TYPES = frozenset((int, float, bool))
_NONE = type(None)


def _plain_objects(values: Sequence, types: frozenset) -> tuple[np.ndarray, np.ndarray] | None:
    """(the values as an object array, where they are None) when every value is None or of exactly one of
    `types` (what a layer's numeric or text field reads back as), else None: the caller goes value by value.

    One pass over the column in C (the types, the array, the None mask) instead of a Python loop per value."""
    if type(values) is np.ndarray and values.dtype != object:
        return None
    kinds = set(map(type, values))
    if not kinds <= types | {_NONE}:
        return None
    array = np.empty(len(values), dtype=object)
    array[:] = values if isinstance(values, (list, np.ndarray)) else list(values)
    none = np.equal(array, None) if _NONE in kinds else np.zeros(len(array), dtype=bool)
    return array, np.asarray(none, dtype=bool)


def _nones(values: Sequence) -> np.ndarray:
    """Where the values are None (NULL)."""
    if type(values) is np.ndarray and values.dtype != object:
        return np.zeros(len(values), dtype=bool)
    plain = _plain_objects(values, frozenset((int, float, bool, str)))
    return plain[1] if plain is not None else np.array([v is None for v in values], dtype=bool)


def _numbers(values: Sequence, default: float = 0.0, *, field: str = "", ids: np.ndarray | None = None) -> np.ndarray:
    """Floats of a numeric field; text that is not a number is refused, naming the field and the patches."""
    if type(values) is np.ndarray and values.dtype.kind in "biuf":
        return values.astype(np.float64)
    plain = _plain_objects(values, _NUMBER_TYPES)
    if plain is not None:  # numbers and NULLs: float(v) of each in C (object → float64), NULL → default
        array, none = plain
        array[none] = default
        return array.astype(np.float64)
    values = [None if _blank(v) else v for v in values]
    try:
        return np.array([default if v is None else float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        pass
    bad = []
    for i, v in enumerate(values):
        try:
            float(v if v is not None else default)
        except (TypeError, ValueError):
            bad.append(i)
    example = values[bad[0]]
    raise InvalidParameterError(
        f"The field {field} holds text that is not a number ({example!r}) for {_rows(np.array(bad), ids)} "
        f"({len(bad)} in all): correct or delete those values."
    )


def _whole(values: np.ndarray, field: str, ids: np.ndarray | None) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
    if len(bad):
        raise InvalidParameterError(
            f"The field {field} must hold whole numbers; {_rows(bad, ids)} ({len(bad)} in all) hold "
            f"{values[bad[0]]!r}."
        )
    return values.astype(np.int64)


def _texts(values: Sequence) -> np.ndarray:
    """str() of each value, NULL as ""."""
    if type(values) is np.ndarray and values.dtype.kind == "U":
        return values.astype(object)
    plain = _plain_objects(values, frozenset((str,)))
    if plain is not None:
        array, none = plain
        array[none] = ""
        return array
    return np.array(["" if v is None else str(v) for v in values], dtype=object)


def _patch_ids(columns: Mapping[str, Sequence], n: int) -> np.ndarray:
    """`patch_id` (or row numbers for a source without one): present, whole and unique."""
    if "patch_id" not in columns:
        return np.arange(n, dtype=np.int64)
    raw = columns["patch_id"]
    empty = np.flatnonzero(_nones(raw))
    if len(empty):
        raise InvalidParameterError(
            f"The field patch_id is empty for {_rows(empty, None)} ({len(empty)} in all): every patch needs "
            "its own id. Give added features new ids, or delete them."
        )
    ids = _whole(_numbers(raw, field="patch_id"), "patch_id", None)
    unique, counts = np.unique(ids, return_counts=True)
    repeated = unique[counts > 1]
    if len(repeated):
        raise InvalidParameterError(
            f"patch_id must be unique, but {len(repeated)} id(s) appear more than once ({describe_ids(repeated)}; "
            f"{int(counts[counts > 1].sum())} rows): a copied feature keeps its id. Delete the copies or give them new ids."
        )
    return ids


def _flags(values: Sequence) -> np.ndarray:
    """True unless NULL, 0, empty or a text such as "false"/"no"."""
    if type(values) is np.ndarray and values.dtype.kind in "biuf":
        return values != 0
    plain = _plain_objects(values, _NUMBER_TYPES)
    if plain is not None:  # a number is a flag unless 0 (NaN is one: bool(nan) and "nan")
        array, none = plain
        return np.not_equal(array, 0).astype(bool) & ~none
    return np.array([bool(v) and str(v).lower() not in ("0", "false", "f", "no") for v in values], dtype=bool)


def _composition(columns: Mapping[str, Sequence], n: int, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fields = sorted((class_value(name), name) for name in columns if class_value(name) is not None)
    if fields:
        values = np.array([v for v, _ in fields], dtype=np.int64)
        fractions = np.stack([_numbers(columns[name], field=name, ids=ids) for _, name in fields], axis=1)
        _check_fractions(fractions, [name for _, name in fields], columns, ids)
        return values, fractions
    name = next(f for f in JSON_FIELDS if f in columns)
    dists = []
    for i, text in enumerate(columns[name]):
        try:
            dists.append({int(k): float(v) for k, v in (json.loads(text) if text else {}).items()})
        except (TypeError, ValueError, AttributeError) as exc:
            raise InvalidParameterError(
                f"{_rows(np.array([i]), ids).capitalize()}: {name} is not a JSON object of class → fraction: {text!r}"
            ) from exc
    values = np.array(sorted({k for d in dists for k in d}), dtype=np.int64)
    fractions = np.zeros((n, len(values)))
    for i, dist in enumerate(dists):
        for k, v in dist.items():
            fractions[i, np.searchsorted(values, k)] = v
    _check_fractions(fractions, [f"{name}[{v}]" for v in values], columns, ids)
    return values, fractions


def _check_fractions(fractions: np.ndarray, names: Sequence[str], columns: Mapping[str, Sequence], ids: np.ndarray) -> None:
    """Each fraction in [0, 1]; each patch's fractions sum to 1 (0 when it has no labelled pixel)."""
    out_of_range = ~np.isfinite(fractions) | (fractions < 0) | (fractions > 1 + FRACTION_TOLERANCE)
    if out_of_range.any():
        rows = np.flatnonzero(out_of_range.any(axis=1))
        first = int(np.flatnonzero(out_of_range[rows[0]])[0])
        raise InvalidParameterError(
            f"Class fractions must lie between 0 and 1: {names[first]} is {fractions[rows[0], first]!r} for "
            f"{_rows(rows[:1], ids)}; {len(rows)} patch(es) in all ({_rows(rows, ids)})."
        )
    sums = fractions.sum(axis=1)
    short = (sums > FRACTION_TOLERANCE) & (np.abs(sums - 1.0) > FRACTION_TOLERANCE)
    if "nodata_ratio" in columns:  # labelled pixels but no fraction at all: the class's field was deleted
        labelled = _numbers(columns["nodata_ratio"], 1.0, field="nodata_ratio", ids=ids) < 1.0 - FRACTION_TOLERANCE
        short |= (sums <= FRACTION_TOLERANCE) & labelled
    if short.any():
        rows = np.flatnonzero(short)
        raise InvalidParameterError(
            f"The class fractions of {len(rows)} patch(es) do not sum to 1 ({_rows(rows, ids)}; e.g. "
            f"{sums[rows[0]]:.4g}): each patch's fractions are shares of its labelled pixels and sum to 1. A "
            "c_<value> field may have been deleted or edited: run 'Compute class composition' again."
        )


def table_from_records(
    columns: Mapping[str, Sequence], *, need_windows: bool = False, need_composition: bool = False
) -> PatchTable:
    """The table of a patch layer. Missing fields a step needs are named in the error."""
    n = len(next(iter(columns.values()))) if columns else 0
    if n == 0:
        raise InvalidParameterError("The patch layer holds no patch.")
    missing = [f for f in WINDOW_FIELDS if f not in columns] if need_windows else []
    if missing:
        raise InvalidParameterError(
            f"The patch layer lacks the field(s) {', '.join(missing)}; make it with 'Create patch grid' "
            "(or keep those fields when editing it)."
        )
    if need_composition and not has_composition(list(columns)):
        raise InvalidParameterError(
            "The patch layer has no class composition: no c_<value> fraction fields and no class_dist_json. "
            "Run 'Compute class composition' on it first."
        )
    ids = _patch_ids(columns, n)
    out: dict[str, np.ndarray] = {"patch_id": ids}
    for name in WINDOW_FIELDS:
        if name in columns:
            raw = columns[name]
            if name.endswith("_path"):
                out[name] = _texts(raw)
            else:
                empty = np.flatnonzero(_nones(raw))
                if len(empty):
                    raise InvalidParameterError(f"The field {name} is empty for {_rows(empty, ids)} "
                                                f"({len(empty)} in all); every patch needs a window.")
                out[name] = _whole(_numbers(raw, field=name, ids=ids), name, ids)
                low = 1 if name == "patch_size" else 0
                bad = np.flatnonzero(out[name] < low)
                if len(bad):
                    raise InvalidParameterError(
                        f"The field {name} must be at least {low}; it is {int(out[name][bad[0]])} for "
                        f"{_rows(bad, ids)} ({len(bad)} in all): such a window lies outside its raster.")
    table = PatchTable(out)
    extra: dict[str, np.ndarray] = {}
    if has_composition(list(columns)):
        values, fractions = _composition(columns, n, ids)
        size = out["patch_size"].astype(np.float64) if "patch_size" in out else np.ones(n)
        nodata = _numbers(columns["nodata_ratio"], field="nodata_ratio", ids=ids) if "nodata_ratio" in columns \
            else np.zeros(n)
        bad = np.flatnonzero(~np.isfinite(nodata) | (nodata < 0) | (nodata > 1))
        if len(bad):
            raise InvalidParameterError(f"nodata_ratio must lie between 0 and 1; it is {nodata[bad[0]]!r} for "
                                        f"{_rows(bad, ids)} ({len(bad)} in all).")
        table = table.with_fractions(values, fractions, size * size * (1.0 - nodata))
        if "nodata_ratio" in columns:
            extra["nodata_ratio"] = nodata
        if "class_entropy" in columns:
            extra["class_entropy"] = _numbers(columns["class_entropy"], field="class_entropy", ids=ids)
        unlabelled = fractions.sum(axis=1) <= 0
    else:
        unlabelled = np.zeros(n, dtype=bool)
    for name in FLAG_COLUMNS:
        if name in columns:
            extra[name] = _flags(columns[name])
    # A patch the analyst marked excluded, or one with no labelled pixel, is never drawn.
    excluded = _flags(columns["excluded"]) if "excluded" in columns else np.zeros(n, dtype=bool)
    extra["excluded"] = excluded | unlabelled
    if "uniqueness_score" in columns:
        extra["uniqueness_score"] = _numbers(columns["uniqueness_score"], np.nan, field="uniqueness_score", ids=ids)
    if "split" in columns:  # train / val / test: the weights step weights the training split alone (splits.py)
        extra["split"] = np.array(["" if _blank(v) else str(v).strip() for v in columns["split"]], dtype=object)
    return table.with_columns(**extra)
