"""The reference pipeline's YAML (pytorch_segmentation_models_trainer's `build-balanced-dataset` and
`select-coreset`), read as its documentation writes it *and* as its code reads it, plus Patch Balancer's own keys.

Every key is either used, or reported as ignored with the reason (`Spec.notes`): nothing is dropped silently.
The result is plain data (settings, inputs, outputs); `cli` runs it. No QGIS, no YAML parser here: the caller
passes the parsed mapping.

Where the two spellings of the reference differ, both are accepted:

| documentation                          | code                                   | here                          |
|----------------------------------------|----------------------------------------|-------------------------------|
| `mode: embeddings`                     | `mode: both` / `embeddings_only`       | `embeddings` = `both`         |
| `exclusion.exclude_border_nodata`      | `exclusion.exclude_mask_border_nodata` | either                        |
| `exclusion.exclude_black_border`       | `exclusion.exclude_image_black_border` | either                        |
| postgres keys under `input:`           | a `postgres:` block, `backend: postgres`| either                       |
| `input.patch_records` as a YAML list   | a DataFrame (crashes from YAML)        | a YAML list, or a CSV path    |
| `input.image_dir` / `mask_dir`         | not implemented (raises)               | paired by file name, gridded  |

Patch Balancer's own keys: `sampling_method: class_balance` (the default), `repeat_factor`, `sqrt_inverse_freq`; a
`balance:` block (target, strength, max_oversampling, weight_floor, rfs_threshold); `class_map`; `split:` (train/val/
test by spatial blocks); `uniqueness.embeddings_parquet` / `embedding_column` (external embeddings); in `output:`
`gpkg_path`, `loss_weights_path`, `report_path`; in `exclusion:` `exclude_image_nodata`, `ignore_band_nodata`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .config import KNN_BACKENDS, SAMPLING_METHODS, BalanceConfig
from .errors import InvalidParameterError

# The reference's six weight methods that combine a composition rank with a uniqueness rank.
UNIQUENESS_RANK_METHODS = ("rank_max", "rank_multiply", "rank_add", "uniqueness_only")
MODE_ALIASES = {"masks_only": "masks_only", "embeddings_only": "embeddings_only", "both": "both",
                "embeddings": "both"}
POSTGRES_KEYS = ("host", "port", "database", "user", "password", "table", "image_path_column", "mask_path_column",
                 "row_off_column", "col_off_column", "patch_size_column", "class_dist_column",
                 "uniqueness_score_column", "embedding_column", "tile_id_column", "where_clause", "fetch_embeddings",
                 "dsn", "dsn_env", "password_env")
POSTGRES_DEFAULTS = {"host": "localhost", "port": 5432, "database": "dataset_explorer", "user": "explorer",
                     "table": "tile", "image_path_column": "file_path", "mask_path_column": "mask_path",
                     "row_off_column": "row_off", "col_off_column": "col_off", "patch_size_column": "patch_size",
                     "class_dist_column": "class_dist", "uniqueness_score_column": "uniqueness_score",
                     "embedding_column": "embedding", "tile_id_column": "id"}


@dataclass
class PostgresSource:
    """Where a dataset_explorer tile table is; the password never travels in this object's repr."""

    options: dict[str, Any]
    password: str | None = field(default=None, repr=False)


@dataclass
class BuildSpec:
    config: BalanceConfig
    csv_path: str
    pairs: list[tuple[str, str]] | None = None  # image_dir/mask_dir: a grid over each pair
    records: dict[str, list] | None = None  # patch records, one list per column
    records_source: str = ""  # "YAML", or the CSV path
    postgres: PostgresSource | None = None
    include_excluded: bool = True
    geojson_path: str | None = None
    gpkg_path: str | None = None
    loss_weights_path: str | None = None
    report_path: str | None = None
    class_map: str | None = None
    embedding_column: str | None = None  # a vector column of the input table/records
    split: Any = None  # splits.SplitConfig: train/val/test by spatial blocks (Patch Balancer's own `split:` block)
    split_csv_folder: str | None = None  # one <name>.csv per split
    notes: list[str] = field(default_factory=list)  # warnings: keys ignored, defaults that differ from the reference
    infos: list[str] = field(default_factory=list)


@dataclass
class CoresetSpec:
    method: str
    budget: float
    budget_mode: str
    input_csv_path: str
    output_csv_path: str
    embedding_column: str | None = None
    parquet_path: str | None = None
    fd_k_min: int = 2
    fd_k_max: int = 20
    fd_vendi_delta: float = 0.005
    fd_use_vendi: bool = False
    lc_fd_cutoff_m: int | None = None
    fa_cb_lambda: float = 0.5
    score_column: str = "coreset_score"
    cb_use_spatial: bool = False
    fd_use_spatial: bool = False
    exclude_low_entropy: bool = True
    include_excluded: bool = True
    recompute_weights: str | None = None  # "class_balance": weights over the selected patches only
    balance: dict[str, Any] = field(default_factory=dict)  # target, strength, max_oversampling
    loss_weights_path: str | None = None
    class_map: str | None = None
    notes: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)


class _Section:
    """One mapping of the YAML: values are taken with `take`; what is left at `done` is reported as unknown."""

    def __init__(self, data: Any, where: str, notes: list[str]) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise InvalidParameterError(f"{where} must be a mapping of keys, got {type(data).__name__}: {data!r}")
        self.data, self.where, self.notes = dict(data), where, notes

    def has(self, key: str) -> bool:
        return key in self.data

    def take(self, key: str, default=None):
        return self.data.pop(key, default)

    def ignore(self, key: str, why: str) -> None:
        if key in self.data:
            self.data.pop(key)
            self.notes.append(f"{self.where}.{key} is ignored: {why}")

    def done(self) -> None:
        for key in self.data:
            self.notes.append(f"{self.where}.{key} is ignored: not a key of pytorch_segmentation_models_trainer's configuration nor of "
                              "Patch Balancer's (a typo?)")
        self.data.clear()


def _bool(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
        return value.strip().lower() in ("true", "yes", "1", "on")
    raise InvalidParameterError(f"{where} must be true or false, got {value!r}.")


def _int(value, where: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or value is None:
        raise InvalidParameterError(f"{where} must be a whole number, got {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{where} must be a whole number, got {value!r}.") from exc
    if not number.is_integer():
        raise InvalidParameterError(f"{where} must be a whole number, got {value!r}.")
    if minimum is not None and number < minimum:
        raise InvalidParameterError(f"{where} must be at least {minimum}, got {value!r}.")
    return int(number)


def _float(value, where: str) -> float:
    if isinstance(value, bool) or value is None:
        raise InvalidParameterError(f"{where} must be a number, got {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{where} must be a number, got {value!r}.") from exc
    if number != number:
        raise InvalidParameterError(f"{where} must be a number, got {value!r}.")
    return number


def _path(value, base: str | None = None) -> str:
    """A path as given (relative paths are resolved from the working folder, as the reference does)."""
    text = os.path.expanduser(str(value))
    return text


def _target(value, where: str) -> str:
    """class_balance's target: `uniform`, `sqrt`, `1:0.3,2:0.2`, or a YAML mapping {1: 0.3, 2: 0.2}."""
    if isinstance(value, Mapping):
        return ",".join(f"{_int(k, where)}:{_float(v, where)}" for k, v in value.items())
    return str(value)


def root_section(document: Any, key: str) -> Any:
    """The block under `key` (`balanced_dataset` / `coreset`), or the whole document, as the reference's CLI reads it."""
    if not isinstance(document, Mapping):
        raise InvalidParameterError(f"The YAML file must hold a mapping (a `{key}:` block), got "
                                    f"{type(document).__name__}.")
    return document.get(key, document)


def parse_build(document: Any) -> BuildSpec:
    """`build-balanced-dataset` settings from a parsed YAML document."""
    notes: list[str] = []
    infos: list[str] = []
    top = _Section(root_section(document, "balanced_dataset"), "balanced_dataset", notes)
    values: dict[str, Any] = {}

    # --- mode and method -------------------------------------------------------------------------
    mode_text = str(top.take("mode", "masks_only"))
    if mode_text not in MODE_ALIASES:
        raise InvalidParameterError(f"balanced_dataset.mode must be masks_only, embeddings_only, both or embeddings; "
                                    f"got {mode_text!r}.")
    values["mode"] = MODE_ALIASES[mode_text]
    if mode_text == "embeddings":
        infos.append("mode: embeddings (as pytorch_segmentation_models_trainer's documentation writes it) = both signals: class "
                     "composition and visual uniqueness.")
    method = top.take("sampling_method")
    if method is None:
        infos.append("sampling_method not given: Patch Balancer's default (class_balance with class composition, "
                     "else uniqueness_only) is used; pytorch_segmentation_models_trainer's default is rank_max.")
    else:
        method = str(method)
        if method not in SAMPLING_METHODS:
            raise InvalidParameterError(f"balanced_dataset.sampling_method {method!r} is not one of "
                                        f"{', '.join(SAMPLING_METHODS)}.")
        if method in UNIQUENESS_RANK_METHODS and values["mode"] == "masks_only" and method != "uniqueness_only":
            notes.append(f"sampling_method {method} combines a composition rank with a uniqueness rank, but mode "
                         "masks_only computes no uniqueness (pytorch_segmentation_models_trainer refuses this combination; its documentation "
                         "shows it): composition_only is used, the rank of the one signal there is.")
            method = "composition_only"
        values["method"] = method
    backend = str(top.take("backend", "local"))
    if backend not in ("local", "postgres"):
        raise InvalidParameterError(f"balanced_dataset.backend must be local or postgres, got {backend!r}.")
    if top.has("num_workers"):
        values["workers"] = _int(top.take("num_workers"), "balanced_dataset.num_workers", 1)
    if top.has("dask_scheduler"):  # ours: the per-raster stages as tasks on a Dask cluster
        values["scheduler"] = str(top.take("dask_scheduler") or "").strip() or None

    spec_kwargs: dict[str, Any] = {}

    # --- input ------------------------------------------------------------------------------------
    raw_input = top.take("input")
    raw_postgres = top.take("postgres")
    inp = _Section(raw_input, "balanced_dataset.input", notes)
    postgres_in_input = inp.has("table") or backend == "postgres" and raw_postgres is None
    if raw_postgres is not None or postgres_in_input:
        source = _Section(raw_input if postgres_in_input else raw_postgres,
                          "balanced_dataset.input" if postgres_in_input else "balanced_dataset.postgres", notes)
        if postgres_in_input:
            inp = _Section({}, "balanced_dataset.input", notes)
        spec_kwargs["postgres"] = _postgres(source, notes)
        source.done()
    if inp.has("patch_records"):
        records = inp.take("patch_records")
        spec_kwargs["records"], spec_kwargs["records_source"] = _records(records, inp.take("patch_size"))
        for key in ("image_dir", "mask_dir", "extension", "stride"):
            inp.ignore(key, "input.patch_records is given, and it names every window")
    elif inp.has("image_dir") or inp.has("mask_dir"):
        image_dir, mask_dir = inp.take("image_dir"), inp.take("mask_dir")
        if not image_dir or not mask_dir:
            raise InvalidParameterError("input.image_dir and input.mask_dir go together: give both folders.")
        extension = str(inp.take("extension", ".tif"))
        spec_kwargs["pairs"] = _folder_pairs(_path(image_dir), _path(mask_dir), extension)
        values["patch_size"] = _int(inp.take("patch_size", 256), "input.patch_size", 1)
        values["stride"] = _int(inp.take("stride", values["patch_size"]), "input.stride", 1)
    elif "postgres" not in spec_kwargs:
        raise InvalidParameterError(
            "balanced_dataset.input needs patch_records (a list of image_path, mask_path, row_off, col_off, patch_size, "
            "or the path of a CSV holding them), or image_dir and mask_dir, or a PostgreSQL table.")
    if inp.has("embedding_column"):
        spec_kwargs["embedding_column"] = str(inp.take("embedding_column"))
    inp.done()

    # --- clustering -------------------------------------------------------------------------------
    clu = _Section(top.take("clustering"), "balanced_dataset.clustering", notes)
    values["k_min"] = _int(clu.take("k_min", 8), "clustering.k_min", 1)  # the reference's defaults
    values["k_max"] = _int(clu.take("k_max", 20), "clustering.k_max", 1)
    selection = str(clu.take("k_selection", "elbow"))
    k = clu.take("k")
    if selection == "fixed":
        if k is None:
            raise InvalidParameterError("clustering.k_selection is fixed: give clustering.k.")
        values["k"] = _int(k, "clustering.k", 1)
    elif selection == "elbow":
        if k is not None:
            notes.append("balanced_dataset.clustering.k is ignored: k_selection is elbow (set k_selection: fixed).")
    else:
        raise InvalidParameterError(f"clustering.k_selection must be elbow or fixed, got {selection!r}.")
    if clu.has("random_state"):
        values["seed"] = _int(clu.take("random_state"), "clustering.random_state", 0)
    clu.done()

    # --- uniqueness and embeddings ----------------------------------------------------------------
    uni = _Section(top.take("uniqueness"), "balanced_dataset.uniqueness", notes)
    if uni.has("k_neighbors"):
        values["k_neighbors"] = _int(uni.take("k_neighbors"), "uniqueness.k_neighbors", 1)
    if uni.has("backend"):
        knn = str(uni.take("backend"))
        if knn not in KNN_BACKENDS:
            raise InvalidParameterError(f"uniqueness.backend must be one of {', '.join(KNN_BACKENDS)}, got {knn!r}.")
        values["knn_backend"] = knn
    if uni.has("embeddings_parquet"):
        values["external_embeddings"] = _path(uni.take("embeddings_parquet"))
    if uni.has("embedding_column"):
        spec_kwargs["embedding_column"] = str(uni.take("embedding_column"))
    uni.done()
    emb = _Section(top.take("embeddings"), "balanced_dataset.embeddings", notes)
    values["embedder"] = str(emb.take("dino_model", "dinov2-base"))  # the reference's default model
    if emb.has("batch_size"):
        values["batch_size"] = _int(emb.take("batch_size"), "embeddings.batch_size", 1)
    if emb.has("use_gpu"):
        values["device"] = "auto" if _bool(emb.take("use_gpu"), "embeddings.use_gpu") else "cpu"
    if emb.has("num_workers"):
        workers = _int(emb.take("num_workers"), "embeddings.num_workers", 0)
        if "workers" not in values:
            values["workers"] = max(workers, 1)
            infos.append(f"embeddings.num_workers {workers}: {max(workers, 1)} thread(s) read and measure the "
                         "raster pairs (patches are read in strips, not one worker per patch).")
    for key in ("precision", "bands"):
        if emb.has(key):
            value = emb.take(key)
            values[key] = tuple(int(b) for b in value) if key == "bands" else str(value)
    if emb.has("parquet_path"):
        parquet = _path(emb.take("parquet_path"))
        if "external_embeddings" in values or spec_kwargs.get("embedding_column"):
            notes.append("balanced_dataset.embeddings.parquet_path is ignored: the embeddings come from "
                         "uniqueness.embeddings_parquet / embedding_column.")
        elif os.path.isfile(parquet) and not _is_own_cache(parquet):
            values["external_embeddings"] = parquet  # the reference reloads an existing file: matched by window here
            infos.append(f"embeddings.parquet_path {parquet!r} exists: its embeddings are used, matched to the patches "
                         "by image path and window (pytorch_segmentation_models_trainer takes them by row position).")
        else:
            values["embeddings_cache"] = parquet
    emb.done()
    if values["mode"] == "masks_only":
        for key in ("external_embeddings", "embeddings_cache"):
            if values.pop(key, None):
                notes.append(f"The embeddings file ({key}) is ignored: mode masks_only computes no uniqueness.")
        if spec_kwargs.pop("embedding_column", None):
            notes.append("The embedding column is ignored: mode masks_only computes no uniqueness.")

    # --- exclusion --------------------------------------------------------------------------------
    exc = _Section(top.take("exclusion"), "balanced_dataset.exclusion", notes)
    for docs_key, code_key, field_name in (("exclude_border_nodata", "exclude_mask_border_nodata", "exclude_border_nodata"),
                                           ("exclude_black_border", "exclude_image_black_border", "exclude_black_border")):
        given = [k for k in (docs_key, code_key) if exc.has(k)]
        if len(given) == 2 and _bool(exc.data[docs_key], docs_key) != _bool(exc.data[code_key], code_key):
            raise InvalidParameterError(f"exclusion.{docs_key} and exclusion.{code_key} are the same setting and "
                                        "disagree: keep one.")
        for k in given:
            values[field_name] = _bool(exc.take(k), f"exclusion.{k}")
    if exc.has("black_border_tolerance"):
        values["black_tolerance"] = _float(exc.take("black_border_tolerance"), "exclusion.black_border_tolerance")
    if exc.has("nodata_class"):
        nodata = exc.take("nodata_class")
        values["nodata"] = None if nodata is None else _int(nodata, "exclusion.nodata_class")
    else:
        notes.append("exclusion.nodata_class is not given: the mask band's own nodata value means 'no label' and "
                     "class 0 is an ordinary class. pytorch_segmentation_models_trainer treats mask value 0 as nodata by default; write "
                     "nodata_class: 0 for that.")
    if exc.has("min_entropy_threshold"):
        value = _float(exc.take("min_entropy_threshold"), "exclusion.min_entropy_threshold")
        values["min_entropy"] = value if value > 0 else None  # 0 disables, as in the reference
    if exc.has("max_nodata_ratio"):
        value = _float(exc.take("max_nodata_ratio"), "exclusion.max_nodata_ratio")
        values["max_nodata_ratio"] = value if value < 1 else None  # 1 disables, as in the reference
    for key in ("exclude_image_nodata", "ignore_band_nodata"):  # Patch Balancer's own
        if exc.has(key):
            values[key] = _bool(exc.take(key), f"exclusion.{key}")
    exc.done()

    boost = top.take("boost")
    if boost is not None:
        _Section(boost, "balanced_dataset.boost", notes)  # checked to be a mapping
        if isinstance(boost, Mapping) and _bool(boost.get("rare_class_boost", False), "boost.rare_class_boost"):
            notes.append("balanced_dataset.boost is ignored: rare classes are balanced by sampling_method "
                         "class_balance (a target share per class under an oversampling cap) instead of a multiplier.")
        else:
            notes.append("balanced_dataset.boost is ignored (rare_class_boost is off).")

    # --- Patch Balancer's own: the balance -----------------------------------------------------------
    bal = _Section(top.take("balance"), "balanced_dataset.balance", notes)
    if bal.has("target"):
        values["target"] = _target(bal.take("target"), "balance.target")
    if bal.has("strength"):
        values["balance_strength"] = _float(bal.take("strength"), "balance.strength")
    if bal.has("max_oversampling"):
        cap = bal.take("max_oversampling")
        values["max_oversampling"] = None if cap is None else _float(cap, "balance.max_oversampling")
    if bal.has("weight_floor"):
        values["weight_floor"] = _float(bal.take("weight_floor"), "balance.weight_floor")
    if bal.has("rfs_threshold"):
        values["rfs_threshold"] = _float(bal.take("rfs_threshold"), "balance.rfs_threshold")
    bal.done()
    if top.has("class_map"):
        spec_kwargs["class_map"] = _path(top.take("class_map"))

    # --- output -----------------------------------------------------------------------------------
    out = _Section(top.take("output"), "balanced_dataset.output", notes)
    csv_path = out.take("csv_path")
    if not csv_path:
        notes.append("output.csv_path is not given: writing balanced_dataset.csv in the working folder "
                     "(pytorch_segmentation_models_trainer's default).")
        csv_path = "balanced_dataset.csv"
    spec_kwargs["csv_path"] = _path(csv_path)
    if out.has("include_excluded"):
        spec_kwargs["include_excluded"] = _bool(out.take("include_excluded"), "output.include_excluded")
    for key, name in (("geojson_path", "geojson_path"), ("gpkg_path", "gpkg_path"),
                      ("loss_weights_path", "loss_weights_path"), ("report_path", "report_path")):
        value = out.take(key)
        if value:
            spec_kwargs[name] = _path(value)
    if out.has("geojson_crs"):
        out.ignore("geojson_crs", "footprints are written in the rasters' own CRS, read from the files")
    out.done()

    if top.has("split"):
        spec_kwargs["split"], spec_kwargs["split_csv_folder"] = _split(
            _Section(top.take("split"), "balanced_dataset.split", notes), values.get("seed", 42))
    top.done()

    config = BalanceConfig(**values)
    if "postgres" in spec_kwargs and values.get("mode") != "masks_only" and not spec_kwargs.get("embedding_column"):
        if spec_kwargs["postgres"].options.get("fetch_embeddings"):
            spec_kwargs["embedding_column"] = spec_kwargs["postgres"].options["embedding_column"]
    spec = BuildSpec(config=config, notes=notes, infos=infos, **spec_kwargs)
    config.validate()
    return spec


def _split(sec: _Section, seed: int):
    """`split:` → (SplitConfig, CSV folder): names/fractions as lists or comma-separated text, blocks grid or
    raster (region polygons are a QGIS layer: use the Split patches algorithm), block_size and buffer in map units."""
    from .split_search import parse_split_spec
    from .splits import SplitConfig

    def text(value):
        return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)

    names = text(sec.take("names", "train,val,test"))
    fractions = text(sec.take("fractions", "0.7,0.15,0.15"))
    blocks = str(sec.take("blocks", "grid"))
    if blocks not in ("grid", "raster"):
        raise InvalidParameterError(f"split.blocks must be grid or raster here (regions need polygons: use the QGIS "
                                    f"algorithm Split patches), got {blocks!r}.")
    config = SplitConfig(
        spec=parse_split_spec(names, fractions), blocks=blocks,
        block_size=_float(sec.take("block_size", 0.0), "split.block_size"),
        buffer=_float(sec.take("buffer", 0.0), "split.buffer"),
        seed=_int(sec.take("seed", seed), "split.seed", 0),
        min_instances=_int(sec.take("min_instances", 50), "split.min_instances", 0)).validate()
    folder = sec.take("csv_folder")
    sec.done()
    return config, (_path(folder) if folder else None)


def _is_own_cache(path: str) -> bool:
    """Whether a Parquet file is Patch Balancer's own embeddings cache (then it is read and extended as a cache)."""
    try:
        import pyarrow.parquet as pq

        return "model_key" in pq.read_schema(path).names
    except Exception:  # noqa: BLE001 - unreadable: the cache code says why, with the file named
        return True


def _records(value, default_size) -> tuple[dict[str, list], str]:
    """Patch records from a YAML list of mappings, or from a CSV file's path: one list per column."""
    if isinstance(value, str):
        from .table_io import read_csv_columns

        columns = read_csv_columns(_path(value))
        source = value
    elif isinstance(value, list):
        if not value:
            raise InvalidParameterError("input.patch_records is an empty list.")
        names: list[str] = []
        for i, record in enumerate(value):
            if not isinstance(record, Mapping):
                raise InvalidParameterError(f"input.patch_records[{i}] must be a mapping (image_path, mask_path, "
                                            f"row_off, col_off, patch_size), got {record!r}.")
            for k in record:
                if k not in names:
                    names.append(str(k))
        columns = {n: [r.get(n) for r in value] for n in names}
        source = "YAML"
    else:
        raise InvalidParameterError("input.patch_records must be a list of records or the path of a CSV file, got "
                                    f"{type(value).__name__}.")
    n = len(next(iter(columns.values()))) if columns else 0
    if "patch_size" not in columns and default_size is not None:
        columns["patch_size"] = [default_size] * n
    elif default_size is not None:
        columns["patch_size"] = [default_size if v in (None, "") else v for v in columns["patch_size"]]
    missing = [c for c in ("image_path", "mask_path", "row_off", "col_off", "patch_size") if c not in columns]
    if missing:
        raise InvalidParameterError(f"input.patch_records ({source}) lacks {', '.join(missing)}: every record needs "
                                    "image_path, mask_path, row_off, col_off and patch_size (or input.patch_size).")
    return columns, source


def _folder_pairs(image_dir: str, mask_dir: str, extension: str) -> list[tuple[str, str]]:
    from .pairing import pair_by_name

    ext = extension if extension.startswith(".") else "." + extension
    lists = []
    for folder, role in ((image_dir, "image"), (mask_dir, "mask")):
        if not os.path.isdir(folder):
            raise InvalidParameterError(f"input.{role}_dir {folder!r} is not a folder.")
        files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(ext.lower()))
        if not files:
            raise InvalidParameterError(f"input.{role}_dir {folder!r} holds no {ext} file.")
        lists.append(files)
    return pair_by_name(*lists)


def _postgres(section: _Section, notes: list[str]) -> PostgresSource:
    options = dict(POSTGRES_DEFAULTS)
    password = None
    for key in POSTGRES_KEYS:
        if not section.has(key):
            continue
        value = section.take(key)
        if key == "password":
            if value:
                password = str(value)
                notes.append(f"{section.where}.password: a password in a YAML file is readable by anyone who reads "
                             "the file; prefer password_env (an environment variable), PGPASSWORD or ~/.pgpass. It "
                             "is used, and never printed.")
        elif key == "password_env":
            name = str(value)
            if name not in os.environ:
                raise InvalidParameterError(f"{section.where}.password_env names {name}, which is not set.")
            password = os.environ[name]
        elif key == "fetch_embeddings":
            options[key] = _bool(value, f"{section.where}.fetch_embeddings")
        elif key == "port":
            options[key] = _int(value, f"{section.where}.port", 1)
        else:
            options[key] = value
    return PostgresSource(options=options, password=password)


def parse_coreset(document: Any) -> CoresetSpec:
    """`select-coreset` settings: the reference's CoreSetConfig keys plus Patch Balancer's own."""
    notes: list[str] = []
    infos: list[str] = []
    sec = _Section(root_section(document, "coreset"), "coreset", notes)
    from .coreset import METHODS

    method = str(sec.take("method", "lc"))
    if method not in METHODS:
        raise InvalidParameterError(f"coreset.method {method!r} is not one of {', '.join(METHODS)}.")
    budget_mode = str(sec.take("budget_mode", "fraction"))
    if budget_mode not in ("fraction", "count"):
        raise InvalidParameterError(f"coreset.budget_mode must be fraction or count, got {budget_mode!r}.")
    budget = _float(sec.take("budget", 0.5), "coreset.budget")
    if budget_mode == "fraction" and not 0 < budget <= 1:
        raise InvalidParameterError(f"coreset.budget is a fraction of the pool: in (0, 1], got {budget}.")
    if budget_mode == "count" and budget < 1:
        raise InvalidParameterError(f"coreset.budget is a number of patches: at least 1, got {budget}.")
    input_csv = sec.take("input_csv_path")
    if not input_csv:
        raise InvalidParameterError("coreset.input_csv_path is needed: the CSV written by build-balanced-dataset.")
    kwargs: dict[str, Any] = dict(method=method, budget=budget, budget_mode=budget_mode,
                                  input_csv_path=_path(input_csv),
                                  output_csv_path=_path(sec.take("output_csv_path", "coreset.csv")))
    for key in ("embedding_column", "score_column"):
        if sec.has(key):
            kwargs[key] = str(sec.take(key))
    if sec.has("parquet_path"):
        value = sec.take("parquet_path")
        kwargs["parquet_path"] = _path(value) if value else None
    for key in ("fd_k_min", "fd_k_max"):
        if sec.has(key):
            kwargs[key] = _int(sec.take(key), f"coreset.{key}", 1)
    if sec.has("lc_fd_cutoff_m"):
        value = sec.take("lc_fd_cutoff_m")
        kwargs["lc_fd_cutoff_m"] = None if value is None else _int(value, "coreset.lc_fd_cutoff_m", 1)
    for key in ("fd_vendi_delta", "fa_cb_lambda"):
        if sec.has(key):
            kwargs[key] = _float(sec.take(key), f"coreset.{key}")
    for key in ("fd_use_vendi", "cb_use_spatial", "fd_use_spatial", "exclude_low_entropy", "include_excluded"):
        if sec.has(key):
            kwargs[key] = _bool(sec.take(key), f"coreset.{key}")
    if sec.has("device"):
        device = sec.take("device")
        if device not in (None, "cpu"):
            notes.append(f"coreset.device {device!r} is ignored: the selection runs on the CPU (the methods take "
                         "seconds on 100k patches; pytorch_segmentation_models_trainer's GPU path gives the same selection).")
    if sec.has("recompute_weights"):
        value = sec.take("recompute_weights")
        if value in (None, False, "none"):
            kwargs["recompute_weights"] = None
        elif value in (True, "class_balance"):
            kwargs["recompute_weights"] = "class_balance"
        else:
            raise InvalidParameterError(f"coreset.recompute_weights must be class_balance or none, got {value!r}.")
    bal = _Section(sec.take("balance"), "coreset.balance", notes)
    balance: dict[str, Any] = {}
    if bal.has("target"):
        balance["target"] = _target(bal.take("target"), "coreset.balance.target")
    if bal.has("strength"):
        balance["balance_strength"] = _float(bal.take("strength"), "coreset.balance.strength")
    if bal.has("max_oversampling"):
        cap = bal.take("max_oversampling")
        balance["max_oversampling"] = None if cap is None else _float(cap, "coreset.balance.max_oversampling")
    bal.done()
    kwargs["balance"] = balance
    for key in ("loss_weights_path", "class_map"):
        if sec.has(key):
            kwargs[key] = _path(sec.take(key))
    sec.done()
    spec = CoresetSpec(notes=notes, infos=infos, **kwargs)
    if method in ("fa", "fd", "lc_fd", "fa_cb") and not spec.embedding_column:
        raise InvalidParameterError(f"coreset.method {method} scores image embeddings: set coreset.embedding_column "
                                    "(a vector column of the CSV, or the column name under which parquet_path's "
                                    "embeddings are joined), as pytorch_segmentation_models_trainer requires.")
    if spec.balance and spec.recompute_weights is None:
        notes.append("coreset.balance is ignored: set recompute_weights: class_balance to recompute the weights over "
                     "the selected patches.")
    return spec


def with_config(spec: BuildSpec, **changes) -> BuildSpec:
    return replace(spec, config=replace(spec.config, **changes))
