"""A patch table rebuilt from a patch layer's attributes (any vector source: GeoPackage, PostGIS…).

The step algorithms hand each other patch layers, which an analyst may inspect and edit in
between (delete patches, set `excluded`, add fields). This module turns the attribute columns
back into a table: the windows (`image_path`, `mask_path`, `row_off`, `col_off`, `patch_size`),
the composition (one `c_<value>` fraction per class, or a `class_dist_json` text as the
reference's CSV and dataset_explorer tables hold it), `excluded` and `uniqueness_score`.
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


def _numbers(values: Sequence, default: float = 0.0) -> np.ndarray:
    return np.array([default if v is None else float(v) for v in values], dtype=np.float64)


def _flags(values: Sequence) -> np.ndarray:
    return np.array([bool(v) and str(v).lower() not in ("0", "false", "f", "no") for v in values], dtype=bool)


def _composition(columns: Mapping[str, Sequence], n: int) -> tuple[np.ndarray, np.ndarray]:
    fields = sorted((class_value(name), name) for name in columns if class_value(name) is not None)
    if fields:
        values = np.array([v for v, _ in fields], dtype=np.int64)
        return values, np.stack([_numbers(columns[name]) for _, name in fields], axis=1)
    name = next(f for f in JSON_FIELDS if f in columns)
    dists = []
    for i, text in enumerate(columns[name]):
        try:
            dists.append({int(k): float(v) for k, v in (json.loads(text) if text else {}).items()})
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"Row {i + 1}: {name} is not a JSON object of class → fraction: {text!r}") from exc
    values = np.array(sorted({k for d in dists for k in d}), dtype=np.int64)
    fractions = np.zeros((n, len(values)))
    for i, dist in enumerate(dists):
        for k, v in dist.items():
            fractions[i, np.searchsorted(values, k)] = v
    return values, fractions


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
    out: dict[str, np.ndarray] = {
        "patch_id": _numbers(columns["patch_id"], -1).astype(np.int64) if "patch_id" in columns
        else np.arange(n, dtype=np.int64),
    }
    for name in WINDOW_FIELDS:
        if name in columns:
            raw = columns[name]
            if name.endswith("_path"):
                out[name] = np.array(["" if v is None else str(v) for v in raw], dtype=object)
            else:
                if any(v is None for v in raw):
                    raise InvalidParameterError(f"The field {name} is empty for some patches; every patch needs a window.")
                out[name] = _numbers(raw).astype(np.int64)
    table = PatchTable(out)
    extra: dict[str, np.ndarray] = {}
    if has_composition(list(columns)):
        values, fractions = _composition(columns, n)
        size = out["patch_size"].astype(np.float64) if "patch_size" in out else np.ones(n)
        nodata = _numbers(columns["nodata_ratio"]) if "nodata_ratio" in columns else np.zeros(n)
        table = table.with_fractions(values, fractions, size * size * (1.0 - nodata))
        if "nodata_ratio" in columns:
            extra["nodata_ratio"] = nodata
        if "class_entropy" in columns:
            extra["class_entropy"] = _numbers(columns["class_entropy"])
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
        extra["uniqueness_score"] = _numbers(columns["uniqueness_score"], np.nan)
    return table.with_columns(**extra)
