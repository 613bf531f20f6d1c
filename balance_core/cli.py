"""`patch-balancer`: the engine's command line, without QGIS.

    patch-balancer build-balanced-dataset CONF.yaml   # the reference's YAML (its docs' and its code's keys) + ours
    patch-balancer select-coreset CONF.yaml           # the reference's six core-set methods over a balanced CSV

Progress bars go to a terminal (stderr) and stay quiet in a pipe; warnings (every ignored key included) always
go to stderr. Exit codes: 0 success, 1 bad input (a message says what to change; nothing was written), 2 a crash
(a bug: the traceback is printed), 130 interrupted (Ctrl+C; nothing was written).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from .errors import BalanceError, CancelledError, InvalidParameterError

EXIT_OK, EXIT_BAD_INPUT, EXIT_CRASH, EXIT_INTERRUPTED = 0, 1, 2, 130
PASSWORD = re.compile(r"""(password\s*=\s*)('[^']*'|"[^"]*"|\S+)|(://[^:/@\s]+:)[^@\s]+@""", re.IGNORECASE)


def mask_passwords(text) -> str:
    """Any password a connection string in a message holds, masked."""
    return PASSWORD.sub(lambda m: (m.group(1) + "***") if m.group(1) else (m.group(3) + "***@"), str(text))


# --- progress on a terminal -----------------------------------------------------------------------

class TerminalProgress:
    """The engine's Progress protocol on a terminal: a bar on stderr when it is a terminal (tqdm), messages as lines."""

    def __init__(self, quiet: bool = False, bar: bool | None = None, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.warnings: list[str] = []
        self._show = bar if bar is not None else (not quiet and hasattr(self.stream, "isatty") and self.stream.isatty())
        self._bar = None  # made at the first progress report, so lines printed before it come first
        self._last = 0

    def _start(self) -> None:
        try:
            from tqdm import tqdm
        except ImportError:
            self._show = False
            return
        self._bar = tqdm(total=1000, file=self.stream, leave=False, dynamic_ncols=True,
                         bar_format="{l_bar}{bar}| {elapsed}<{remaining}")
        self._last = 0

    def set_fraction(self, fraction: float) -> None:
        if self._bar is None and self._show:
            self._start()
        if self._bar is not None:
            value = int(min(max(fraction, 0.0), 1.0) * 1000)
            if value > self._last:
                self._bar.update(value - self._last)
                self._last = value

    def cancelled(self) -> bool:
        return False

    def _write(self, text: str) -> None:
        text = mask_passwords(text)
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def info(self, message: str) -> None:
        if not self.quiet:
            self._write(message)

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        self._write(f"warning: {message}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# --- YAML -----------------------------------------------------------------------------------------

def load_yaml(path: str):
    try:
        import yaml
    except ImportError as exc:  # a base dependency of the package
        raise InvalidParameterError("Reading the configuration needs PyYAML (`pip install pyyaml`).") from exc
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise InvalidParameterError(f"Cannot read {path!r}: {exc.strerror or exc}.") from exc
    except yaml.YAMLError as exc:
        raise InvalidParameterError(f"{path!r} is not valid YAML: {exc}") from exc


# --- build-balanced-dataset -------------------------------------------------------------------------

def _records_table(columns: Mapping[str, list], need_windows: bool):
    """A patch table from record columns (the reference's has_* flags read as ours), and the columns carried."""
    from .records import carried_columns, records_table

    return records_table(columns, need_windows), carried_columns(columns)


def _distinct_pairs(table) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(table["image_path"].tolist(), table["mask_path"].tolist())))


def _exclusions_from_records(table, config):
    """Exclusion flags of records that carry their composition (no raster read): the ratio and entropy rules on
    their values, plus the flags they hold."""
    from .exclusion import FLAG_COLUMNS

    n = len(table)
    flags = {name: np.asarray(table[name], dtype=bool) if name in table else np.zeros(n, dtype=bool)
             for name in FLAG_COLUMNS}
    if config.min_entropy is not None and "class_entropy" in table:
        flags["excl_low_entropy"] |= np.nan_to_num(table["class_entropy"], nan=0.0) < config.min_entropy
    if "nodata_ratio" in table:
        ratio = np.asarray(table["nodata_ratio"], dtype=np.float64)
        flags["excl_nodata_ratio"] |= ratio >= 1.0
        if config.max_nodata_ratio is not None:
            flags["excl_nodata_ratio"] |= ratio > config.max_nodata_ratio
    excluded = np.asarray(table["excluded"], dtype=bool) | np.logical_or.reduce(list(flags.values()))
    return table.with_columns(**flags, excluded=excluded)


def run_build(spec, progress, class_names: Mapping[int, str] | None = None):
    """The pipeline for a BuildSpec: (table, dataset or None, carried columns)."""
    from .dataset import open_dataset
    from .exclusion import require_included
    from .external_embeddings import from_columns
    from .pipeline import composition_step, grid_step, uniqueness_step, weights_step
    from .progress import SubProgress

    config = spec.config
    carried: dict[str, list] = {}
    dataset = None
    mask_end = 0.15 if config.needs_uniqueness else 0.7
    if spec.pairs is not None:
        dataset = open_dataset(spec.pairs, progress)
        table = grid_step(dataset, config)
        progress.info(f"{len(table)} patches of {config.patch_size} px over {len(dataset.pairs)} raster pair(s)")
    else:
        columns = spec.records if spec.records is not None else read_postgres(spec.postgres, config, progress)
        table, carried = _records_table(columns, need_windows=spec.postgres is None)
        sizes = np.unique(table["patch_size"]) if "patch_size" in table else []
        progress.info(f"{len(table)} patch records from {spec.records_source or 'PostgreSQL'}"
                      + (f", patch sizes {', '.join(map(str, sizes))}" if len(sizes) > 1 else ""))
    if table.class_counts is None:
        if dataset is None:
            dataset = open_dataset(_distinct_pairs(table), progress)
        table = composition_step(table, dataset, config, SubProgress(progress, 0.0, mask_end))
    else:
        progress.info("The records carry their class composition (class_dist / c_<value>): the masks are not read.")
        table = _exclusions_from_records(table, config)
    require_included(table)
    progress.info(f"{int(table['excluded'].sum())} of {len(table)} patches excluded")
    if spec.split is not None:
        from .dataset import dataset_footprints
        from .splits import split_patches

        if dataset is None:
            dataset = open_dataset(_distinct_pairs(table), progress)
        rings = dataset_footprints(table, dataset)
        bounds = np.column_stack([rings[..., 0].min(axis=1), rings[..., 1].min(axis=1),
                                  rings[..., 0].max(axis=1), rings[..., 1].max(axis=1)])
        outcome = split_patches(table, bounds, spec.split, progress, class_names=class_names)
        for note in outcome.notes:
            progress.warning(note)
        table = outcome.table
        parts = ", ".join(f"{n} {int(p)}" for n, p in zip(outcome.summary.names, outcome.summary.patches))
        progress.info(f"Split over {outcome.n_blocks} block(s): {parts} drawable patches; only "
                      f"'{spec.split.spec.training}' gets sampler weights.")
    if config.needs_uniqueness:
        included = ~table["excluded"]
        if "uniqueness_score" in table and np.isfinite(np.asarray(table["uniqueness_score"], float)[included]).all():
            progress.info("The records carry uniqueness_score: it is used as it is (no embedding is read).")
        else:
            external = None
            if spec.embedding_column:
                if spec.embedding_column not in carried:
                    raise InvalidParameterError(f"The embedding column {spec.embedding_column!r} is not in the input "
                                                f"(columns: {', '.join(list(carried)[:12])}).")
                external = from_columns(table["image_path"].tolist(), table["row_off"], table["col_off"],
                                        table["patch_size"], carried[spec.embedding_column],
                                        f"the column {spec.embedding_column!r}")
            if external is None and not config.external_embeddings and dataset is None:
                dataset = open_dataset(_distinct_pairs(table), progress)
            table = uniqueness_step(table, dataset, config, SubProgress(progress, mask_end, 0.95), external=external)
    if not spec.include_excluded:  # left out before the weights: the cap and the mean 1 hold over the rows written
        keep = np.flatnonzero(~table["excluded"])
        progress.info(f"include_excluded: false — {len(table) - len(keep)} excluded patches left out of the outputs.")
        table = table.take(keep)
        carried = {name: [values[i] for i in keep] for name, values in carried.items()}
    weights_progress = SubProgress(progress, 0.95 if config.needs_uniqueness else mask_end, 1.0)
    if spec.split is not None:
        from .splits import weigh_training_split

        table = weigh_training_split(table, spec.split.spec.training,
                                     lambda part: weights_step(part, config, weights_progress, class_names))
    else:
        table = weights_step(table, config, weights_progress, class_names)
    progress.set_fraction(1.0)
    return table, dataset, carried


def spec_legend(spec, progress=None) -> dict:
    """Class names and colours from the class map (`value,name,#rrggbb` lines), if the YAML names one."""
    from .legend import read_class_map

    if not spec.class_map:
        return {}
    return read_class_map(spec.class_map, progress.warning if progress is not None else None)


def _check_outputs(paths: Sequence[tuple[str, str]], inputs: Sequence[str]) -> None:
    """No output is an input or another output."""
    seen: dict[str, str] = {}
    real_inputs = {os.path.realpath(p): p for p in inputs if p}
    for key, path in paths:
        if not path:
            continue
        real = os.path.realpath(path)
        if real in real_inputs:
            raise InvalidParameterError(f"{key} {path!r} is an input of this run: choose another file.")
        if real in seen:
            raise InvalidParameterError(f"{key} and {seen[real]} are the same file {path!r}.")
        if os.path.isdir(real):
            raise InvalidParameterError(f"{key} {path!r} is a folder: give a file name.")
        seen[real] = key


def build_command(path: str, progress: TerminalProgress, scheduler: str | None = None) -> int:
    from .dataset import dataset_footprints, open_dataset
    from .reference_yaml import parse_build
    from .staged_outputs import StagedOutputs, staging
    from .table_io import write_geojson, write_gpkg
    from .writers import atomic_path, write_csv, write_loss_weights

    start = time.perf_counter()
    spec = parse_build(load_yaml(path))
    if scheduler:
        spec.config = replace(spec.config, scheduler=scheduler)
    for note in spec.infos:
        progress.info(note)
    for note in spec.notes:
        progress.warning(note)
    inputs = [path, spec.class_map or "", spec.config.external_embeddings or ""]
    if spec.records_source and spec.records_source != "YAML":
        inputs.append(spec.records_source)
    if spec.records is not None:
        inputs += [str(p) for key in ("image_path", "mask_path") for p in set(spec.records[key])]
    for pair in spec.pairs or []:
        inputs += list(pair)
    outputs = [("csv_path", spec.csv_path), ("geojson_path", spec.geojson_path), ("gpkg_path", spec.gpkg_path),
               ("loss_weights_path", spec.loss_weights_path), ("report_path", spec.report_path),
               ("embeddings.parquet_path", spec.config.embeddings_cache)]
    _check_outputs(outputs, inputs)
    legend = spec_legend(spec, progress)
    names = {v: info.name for v, info in legend.items()}
    with staging(StagedOutputs()) as staged:
        table, dataset, carried = run_build(spec, progress, names)
        written = table
        write_csv(written, spec.csv_path, carried)
        if spec.geojson_path or spec.gpkg_path:
            if dataset is None:
                dataset = open_dataset(_distinct_pairs(table), progress)
            rings = dataset_footprints(written, dataset)
            if spec.geojson_path:
                problem = write_geojson(written, rings, dataset.crs_wkt, spec.geojson_path, carried)
                if problem:
                    progress.warning(problem)
            if spec.gpkg_path:
                write_gpkg(written, rings, dataset.crs_wkt, spec.gpkg_path, extra=carried)
        if spec.split is not None and spec.split_csv_folder:
            from .splits import write_split_csvs

            paths = write_split_csvs(written, spec.split_csv_folder, spec.split.spec.names)
            progress.info(f"Split CSVs: {', '.join(paths.values())}")
        basis = table  # what the loss weights and the report describe: the training split when there is one
        if spec.split is not None:
            from .splits import training_table

            basis = training_table(table, spec.split.spec.training)
        if spec.loss_weights_path:
            write_loss_weights(basis, spec.loss_weights_path, names)
        if spec.report_path:
            from .report import render_report

            settings = {"Signals": spec.config.mode, "Sampling method": spec.config.sampling_method,
                        "Oversampling cap": f"{spec.config.oversampling_cap:g}×" if spec.config.oversampling_cap
                        else "none"}
            text = render_report(basis, legend, "Patch Balancer — balance report", settings)
            with atomic_path(spec.report_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
        staged.commit()
    progress.close()
    weights = written["sampler_weight"]
    ess = float(weights.sum() ** 2 / (weights ** 2).sum())
    written_paths = [p for _, p in outputs[:5] if p]
    print(f"Built balanced dataset: {len(written)} patches ({int(table['excluded'].sum())} of them excluded), "
          f"method {spec.config.sampling_method}, effective sample size {ess:.0f}, largest oversampling "
          f"{weights.max() / weights.mean():.2f}× → {', '.join(written_paths)} ({time.perf_counter() - start:.1f} s)")
    return EXIT_OK


# --- PostgreSQL -----------------------------------------------------------------------------------

def _db_module():
    for name in ("psycopg", "psycopg2"):
        try:
            return __import__(name)
        except ImportError:
            continue
    raise InvalidParameterError("Reading a PostgreSQL table needs psycopg (`pip install psycopg[binary]`) or psycopg2.")


def read_postgres(source, config, progress) -> dict[str, list]:
    """The tile table's records (the reference's PostgresReader columns), connecting through a connection string
    (`dsn`, or the environment variable `dsn_env`) or host/port/database/user with the password from
    `password_env`, PGPASSWORD or ~/.pgpass; no password is ever printed."""
    options = source.options
    module = _db_module()
    if options.get("dsn_env"):
        name = options["dsn_env"]
        if name not in os.environ:
            raise InvalidParameterError(f"postgres dsn_env names {name}, which is not set.")
        conninfo = os.environ[name]
    else:
        conninfo = options.get("dsn")
    kwargs = {}
    if not conninfo:
        kwargs = {"host": options["host"], "port": options["port"], "dbname": options["database"],
                  "user": options["user"]}
        if source.password:
            kwargs["password"] = source.password
    wanted = [options["image_path_column"], options["mask_path_column"], options["row_off_column"],
              options["col_off_column"], options["patch_size_column"], options["class_dist_column"],
              options["uniqueness_score_column"], "class_entropy", "nodata_ratio"]
    if options.get("fetch_embeddings"):
        wanted.append(options["embedding_column"])
    # the reference's query: table, columns and filter are the YAML author's own, on their own database
    query = f"SELECT {', '.join(wanted)} FROM {options['table']}"  # nosec B608
    if options.get("where_clause"):
        query += f" WHERE {options['where_clause']}"
    progress.info(f"PostgreSQL: {query}")
    try:
        connection = module.connect(conninfo, **kwargs) if conninfo else module.connect(**kwargs)
        try:
            cursor = connection.cursor()
            cursor.execute(query)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        finally:
            connection.close()
    except Exception as exc:  # noqa: BLE001 - the driver's own errors; shown with passwords masked
        if isinstance(exc, BalanceError):
            raise
        raise InvalidParameterError(f"PostgreSQL: {mask_passwords(exc)}".strip()) from None
    rename = {options["image_path_column"]: "image_path", options["mask_path_column"]: "mask_path",
              options["row_off_column"]: "row_off", options["col_off_column"]: "col_off",
              options["patch_size_column"]: "patch_size", options["class_dist_column"]: "class_dist",
              options["uniqueness_score_column"]: "uniqueness_score"}
    columns = {rename.get(n, n): [r[j] for r in rows] for j, n in enumerate(names)}
    if not rows:
        raise InvalidParameterError("PostgreSQL: the query returned no row.")
    if "class_dist" in columns:
        import json

        columns["class_dist"] = [v if v is None or isinstance(v, str) else json.dumps(v) for v in columns["class_dist"]]
    return columns


# --- select-coreset --------------------------------------------------------------------------------

def coreset_command(path: str, progress: TerminalProgress) -> int:
    from .config import BalanceConfig
    from .coreset import EMBEDDING_METHODS, CoresetSettings, select_coreset, selected_class_balance
    from .external_embeddings import attach_embeddings, from_columns, read_parquet
    from .reference_yaml import parse_coreset
    from .staged_outputs import StagedOutputs, staging
    from .table_io import read_csv_columns
    from .writers import write_loss_weights, write_rows_csv

    start = time.perf_counter()
    spec = parse_coreset(load_yaml(path))
    for note in spec.infos:
        progress.info(note)
    for note in spec.notes:
        progress.warning(note)
    _check_outputs([("output_csv_path", spec.output_csv_path), ("loss_weights_path", spec.loss_weights_path)],
                   [path, spec.input_csv_path, spec.parquet_path or "", spec.class_map or ""])
    columns = read_csv_columns(spec.input_csv_path)
    table, _ = _records_table(columns, need_windows=False)
    settings = CoresetSettings(
        method=spec.method, budget=spec.budget, budget_mode=spec.budget_mode, fd_k_min=spec.fd_k_min,
        fd_k_max=spec.fd_k_max, fd_vendi_delta=spec.fd_vendi_delta, fd_use_vendi=spec.fd_use_vendi,
        lc_fd_cutoff_m=spec.lc_fd_cutoff_m, fa_cb_lambda=spec.fa_cb_lambda, cb_use_spatial=spec.cb_use_spatial,
        fd_use_spatial=spec.fd_use_spatial, exclude_low_entropy=spec.exclude_low_entropy).validate()
    from .coreset import pool_mask

    pool = pool_mask(table, settings.exclude_low_entropy)
    embeddings = None
    if spec.method in EMBEDDING_METHODS:
        if spec.embedding_column in columns:
            external = from_columns(columns["image_path"], table["row_off"], table["col_off"],
                                    table["patch_size"] if "patch_size" in table else None,
                                    columns[spec.embedding_column], f"the column {spec.embedding_column!r}")
        elif spec.parquet_path:
            external = read_parquet(spec.parquet_path, None)
        else:
            raise InvalidParameterError(f"The embedding column {spec.embedding_column!r} is not in "
                                        f"{spec.input_csv_path!r} and no parquet_path is given to join it from.")
        matched = attach_embeddings(table.with_columns(excluded=~pool), external, progress)
        embeddings = matched["embedding"][pool]
    bounds = None
    if spec.cb_use_spatial or spec.fd_use_spatial:
        bounds = _pool_bounds(table, columns, pool, progress)
    table = select_coreset(table, settings, embeddings, bounds, progress, spec.score_column)
    legend = spec_legend(spec, progress)
    names = {v: info.name for v, info in legend.items()}
    if spec.recompute_weights == "class_balance":
        config = BalanceConfig(**spec.balance).validate()
        table = selected_class_balance(table, config, progress, names)
    keep = np.arange(len(table)) if spec.include_excluded else np.flatnonzero(pool)
    header = list(columns)
    added = [spec.score_column, "coreset_selected"] + (["sampler_weight"] if spec.recompute_weights else [])
    header += [c for c in added if c not in header]
    values = {name: list(columns[name]) for name in columns}
    values[spec.score_column] = [None if not np.isfinite(v) else float(v) for v in table[spec.score_column]]
    values["coreset_selected"] = ["True" if s else "False" for s in table["coreset_selected"]]
    if spec.recompute_weights:
        values["sampler_weight"] = [float(w) for w in table["sampler_weight"]]
    rows = [[values[name][i] for name in header] for i in keep]
    with staging(StagedOutputs()) as staged:
        write_rows_csv(spec.output_csv_path, header, rows)
        if spec.loss_weights_path:
            if "sampler_weight" not in table:
                raise InvalidParameterError("loss_weights_path needs sampler weights: set recompute_weights.")
            write_loss_weights(table, spec.loss_weights_path, names)
        staged.commit()
    progress.close()
    print(f"Selected {int(table['coreset_selected'].sum())}/{int(pool.sum())} patches ({spec.method}) → "
          f"'{spec.output_csv_path}' ({time.perf_counter() - start:.1f} s).")
    return EXIT_OK


def _pool_bounds(table, columns, pool, progress) -> np.ndarray:
    """minx, miny, maxx, maxy of the pool's footprints: tile_* columns, else from the rasters' transforms."""
    names = ("tile_minx", "tile_miny", "tile_maxx", "tile_maxy")
    if all(n in columns for n in names):
        return np.column_stack([np.asarray(columns[n], dtype=np.float64) for n in names])[pool]
    from .dataset import dataset_footprints, open_dataset

    sub = table.take(np.flatnonzero(pool))
    dataset = open_dataset(_distinct_pairs(sub), progress)
    rings = dataset_footprints(sub, dataset)
    return np.column_stack([rings[..., 0].min(axis=1), rings[..., 1].min(axis=1),
                            rings[..., 0].max(axis=1), rings[..., 1].max(axis=1)])


# --- the demo --------------------------------------------------------------------------------------

DEMO_YAML = """# Written by `patch-balancer demo`: the demo scene, balanced without QGIS.
balanced_dataset:
  mode: masks_only
  sampling_method: class_balance     # Patch Balancer's default; pytorch_segmentation_models_trainer's six methods work too
  num_workers: 2
  input:
    image_dir: {out}/images
    mask_dir: {out}/masks
    patch_size: {patch_size}
  clustering: {{k_min: 4, k_max: 16, random_state: 42}}
  exclusion:
    exclude_border_nodata: true
    exclude_black_border: true
    nodata_class: 255
  balance:                           # Patch Balancer's own keys
    target: uniform
    max_oversampling: 5
  class_map: {out}/demo_classes.csv
  output:
    csv_path: {out}/demo_patches.csv
    gpkg_path: {out}/demo_patches.gpkg
    loss_weights_path: {out}/demo_loss_weights.json
    report_path: {out}/demo_report.html
"""
DEMO_CORESET_YAML = """# Written by `patch-balancer demo`: half of the usable patches, chosen for class balance (cb),
# with class_balance weights recomputed over them.
coreset:
  method: cb
  budget: 0.5
  budget_mode: fraction
  input_csv_path: {out}/demo_patches.csv
  output_csv_path: {out}/demo_coreset.csv
  recompute_weights: class_balance
  balance: {{target: uniform, max_oversampling: 5}}
  class_map: {out}/demo_classes.csv
"""


def demo_command(out: str, size: int, patch_size: int, progress: TerminalProgress) -> int:
    """Write the demo scene and its YAML files into `out`, run both commands on them, print the balance."""
    import json

    from .demo_scene import CLASS_COLOURS, CLASS_NAMES, write_scene

    out = os.path.abspath(out)
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    progress.info(f"Generating a {size}×{size} px demo scene in {out}")
    write_scene(os.path.join(out, "images", "demo_image.tif"), os.path.join(out, "masks", "demo_mask.tif"), size)
    with open(os.path.join(out, "demo_classes.csv"), "w", encoding="utf-8") as fh:
        fh.write("value,name,colour\n" + "".join(f"{v},{n},{CLASS_COLOURS[v]}\n" for v, n in CLASS_NAMES.items()))
    build_yaml, coreset_yaml = os.path.join(out, "demo.yaml"), os.path.join(out, "demo_coreset.yaml")
    with open(build_yaml, "w", encoding="utf-8") as fh:
        fh.write(DEMO_YAML.format(out=out, patch_size=patch_size))
    with open(coreset_yaml, "w", encoding="utf-8") as fh:
        fh.write(DEMO_CORESET_YAML.format(out=out))
    print(f"$ patch-balancer build-balanced-dataset {build_yaml}")
    build_command(build_yaml, progress)
    document = json.loads(open(os.path.join(out, "demo_loss_weights.json"), encoding="utf-8").read())
    print(f"{'class':<14}{'raw share':>11}{'target':>9}{'drawn':>9}{'loss weight raw → after':>25}")
    for value, entry in document["by_class"].items():
        target = f"{entry['target_share']:.2%}" if "target_share" in entry else "–"
        print(f"{value} {entry.get('name', ''):<12}{entry['raw_share']:>10.2%}{target:>9}{entry['drawn_share']:>9.2%}"
              f"{entry['weight_without_sampling']:>14.1f} → {entry['weight']:.1f}")
    print(f"$ patch-balancer select-coreset {coreset_yaml}")
    return coreset_command(coreset_yaml, progress)


# --- entry point -----------------------------------------------------------------------------------

def _version() -> str:
    try:
        from importlib.metadata import version

        return version("patch-balancer")
    except Exception:  # noqa: BLE001 - running from a checkout
        return "checkout"


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="patch-balancer", description="Balanced patch sampling for segmentation training, without QGIS.",
        epilog="Exit codes: 0 success, 1 bad input (nothing written), 2 crash (a bug), 130 interrupted.")
    main.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("build-balanced-dataset", "patch records or image/mask folders → sampler_weight CSV "
                        "(pytorch_segmentation_models_trainer's `balanced_dataset:` YAML, its documented and its code's keys, plus ours)"),
                       ("select-coreset", "a balanced CSV → coreset_score, coreset_selected (pytorch_segmentation_models_trainer's "
                        "`coreset:` YAML: methods lc, cb, fa, fd, lc_fd, fa_cb)")):
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("config", metavar="CONF.yaml")
        command.add_argument("-q", "--quiet", action="store_true", help="only warnings and the summary line")
        command.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
        command.add_argument("--raster-backend", choices=("gdal", "rasterio"),
                             help="how rasters are read (default: GDAL's bindings where importable, else rasterio)")
        if name == "build-balanced-dataset":
            command.add_argument("--scheduler", metavar="ADDRESS",
                                 help="run composition and embeddings as tasks on the Dask cluster whose scheduler is "
                                      "at ADDRESS (tcp://host:8786; the YAML key balanced_dataset.dask_scheduler); "
                                      "workers need the rasters under the same paths")
    demo = sub.add_parser("demo", help="write the demo scene and its YAML, run both commands on it",
                          description="Generates the demo scene (99 %% background, thin roads, rare buildings and "
                                      "ponds), writes demo.yaml and demo_coreset.yaml beside it and runs them.")
    demo.add_argument("out", nargs="?", default="demo_output_cli", help="output folder (default: demo_output_cli)")
    demo.add_argument("--size", type=int, default=2560, help="scene side in pixels (default 2560)")
    demo.add_argument("--patch-size", type=int, default=128, help="patch side in pixels (default 128)")
    demo.add_argument("-q", "--quiet", action="store_true", help="only warnings and the summary lines")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    demo.add_argument("--raster-backend", choices=("gdal", "rasterio"), help=argparse.SUPPRESS)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    progress = TerminalProgress(quiet=args.quiet, bar=False if args.no_progress else None)
    try:
        if args.raster_backend:
            from .raster_io import set_backend

            set_backend(args.raster_backend)
        if args.command == "build-balanced-dataset":
            return build_command(args.config, progress, args.scheduler)
        if args.command == "demo":
            return demo_command(args.out, args.size, args.patch_size, progress)
        return coreset_command(args.config, progress)
    except KeyboardInterrupt:
        progress.close()
        print("Interrupted; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CancelledError as exc:
        progress.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BalanceError as exc:
        progress.close()
        print(f"error: {mask_passwords(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:  # noqa: BLE001 - a bug: shown in full, with its own exit code
        progress.close()
        print(mask_passwords(traceback.format_exc()), file=sys.stderr)
        print("patch-balancer crashed: this is a bug; please report it with the traceback above.", file=sys.stderr)
        return EXIT_CRASH


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
