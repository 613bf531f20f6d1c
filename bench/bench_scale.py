"""Scale: ten gigapixels end to end through qgis_process, the stages one by one, determinism, and Dask.

1. 10 Gpx: 606 map sheets of 4096² px (155,136 patches of 256 px, seven classes, see scale_dataset.py),
   Build balanced dataset through `qgis_process` (layer + CSV + report), masks only: wall time of the whole
   command (QGIS's start included) and its peak memory. Twice with the default settings (the black-border rule reads the images) — the two CSVs must be
   byte-identical — and once with the image rules off (only the masks are read).
2. 160k patches of 64 px (40 sheets) inside QGIS: processing.run timed in a started QGIS after a first run on
   one sheet, as an analyst's second run of a session (bench/inside_qgis.py).
3. The engine's stages at 10 Gpx in this process: open, grid, composition (one thread vs one per core),
   exclusions + weights, footprints, CSV.
4. Determinism of the uniqueness mode at 155,136 patches (embeddings given as a Parquet file, kNN by hnsw, the
   one approximate backend): two runs, byte-identical CSVs.
5. Dask: composition of 120 sheets (2 Gpx) on a LocalCluster of 2 worker processes vs one thread here, same
   table required.

Times are of one run each (this 2-core machine is shared: see the load average printed with them).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from scale_dataset import make_dataset  # noqa: E402

from balance_core.config import BalanceConfig  # noqa: E402
from balance_core.dataset import (  # noqa: E402
    dataset_footprints,
    measure_dataset_composition,
    open_dataset,
)
from balance_core.exclusion import apply_exclusions  # noqa: E402
from balance_core.pairing import pair_folders  # noqa: E402
from balance_core.pipeline import grid_step, uniqueness_step, weights_step  # noqa: E402
from balance_core.progress import NullProgress  # noqa: E402
from balance_core.writers import write_csv  # noqa: E402

QGIS_PROCESS = str(REPO / "scripts" / "qgis_process")
ALG = "patchbalancer:buildbalanceddataset"


def load() -> str:
    return "load average " + " ".join(open("/proc/loadavg").read().split()[:3])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def run_child(args: list) -> tuple[float, float, str]:
    """(wall s, peak RSS GiB, output) of a child process, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args[0]} failed:\n{out[-3000:]}")
    return wall, usage.ru_maxrss / 2**20, out


def build_params(images: Path, masks: Path, out: Path, patch: int, name: str, **extra) -> list:
    params = {"IMAGE_FOLDER": images, "MASK_FOLDER": masks, "PATCH_SIZE": patch, "OUTPUT": out / f"{name}.gpkg",
              "OUTPUT_CSV": out / f"{name}.csv", "REPORT": out / f"{name}.html", **extra}
    return [f"{k}={v}" for k, v in params.items()]


def end_to_end(images: Path, masks: Path, out: Path, patch: int, name: str, **extra) -> tuple[float, float, str]:
    """(wall s, peak RSS GiB, CSV digest) of Build balanced dataset through qgis_process."""
    wall, peak, _ = run_child([QGIS_PROCESS, "run", ALG, "--"] + build_params(images, masks, out, patch, name, **extra))
    return wall, peak, sha(out / f"{name}.csv")


def inside_qgis(images: Path, masks: Path, out: Path, patch: int, name: str) -> tuple[float, float]:
    """(the algorithm's seconds inside a started QGIS, peak RSS GiB of that process)."""
    warm_up = [str(next(images.glob("*.tif"))), str(next(masks.glob("*.tif")))]
    _, peak, text = run_child([sys.executable, str(REPO / "bench" / "inside_qgis.py"), *warm_up]
                              + build_params(images, masks, out, patch, name))
    return float(text.strip().splitlines()[-1]), peak


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def stages(pairs, out: Path) -> None:
    config = BalanceConfig(patch_size=256)
    dataset, t_open = timed(lambda: open_dataset(pairs, NullProgress()))
    table, t_grid = timed(lambda: grid_step(dataset, config))
    _, t_one = timed(lambda: measure_dataset_composition(table, dataset, replace(config, workers=1), NullProgress()))
    measured, t_all = timed(lambda: measure_dataset_composition(table, dataset, config, NullProgress()))
    weighted, t_weights = timed(lambda: weights_step(apply_exclusions(measured, config), config, NullProgress()))
    _, t_rings = timed(lambda: dataset_footprints(weighted, dataset))
    _, t_csv = timed(lambda: write_csv(weighted, str(out / "engine.csv")))
    print(f"  open {len(pairs)} raster pairs   {t_open:6.2f} s")
    print(f"  grid                     {t_grid:6.2f} s")
    print(f"  composition, 1 thread    {t_one:6.2f} s")
    print(f"  composition, {config.thread_count} threads   {t_all:6.2f} s  ({t_one / t_all:.2f}× one thread)")
    print(f"  exclusions + weights     {t_weights:6.2f} s")
    print(f"  footprints               {t_rings:6.2f} s")
    print(f"  CSV                      {t_csv:6.2f} s   ({load()})")
    return dataset, measured


def uniqueness_determinism(dataset, measured, out: Path) -> None:
    """Two runs per kNN backend on the same embeddings (as a Parquet file): the CSVs must be the same bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    n, dim = len(measured), 384
    vectors = rng.normal(size=(n, dim)).astype(np.float32) + rng.integers(0, 50, n)[:, None].astype(np.float32)
    parquet = out / "embeddings.parquet"
    pq.write_table(pa.table({"image_path": [os.path.abspath(p) for p in measured["image_path"]],
                             "row_off": measured["row_off"], "col_off": measured["col_off"],
                             "patch_size": measured["patch_size"],
                             "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim)}), parquet)
    for backend in ("hnsw",):  # exact, sklearn and faiss search exhaustively: deterministic by construction
        config = BalanceConfig(patch_size=256, mode="both", knn_backend=backend, external_embeddings=str(parquet))
        digests, seconds = [], []
        for run in range(2):
            table = apply_exclusions(measured, config)
            weighted, t = timed(lambda: weights_step(uniqueness_step(table, dataset, config, NullProgress()), config,
                                                       NullProgress()))
            path = out / f"{backend}_{run}.csv"
            write_csv(weighted, str(path))
            digests.append(sha(path))
            seconds.append(t)
        same = "byte-identical" if digests[0] == digests[1] else "DIFFERENT"
        print(f"  {backend:6s} kNN, {n:,} patches × {dim}: runs {seconds[0]:.1f} s / {seconds[1]:.1f} s, CSVs {same} "
              f"({digests[0]})")


def dask_speedup(pairs) -> None:
    from distributed import LocalCluster

    dataset = open_dataset(pairs, NullProgress())
    config = BalanceConfig(patch_size=256, workers=1)
    table = grid_step(dataset, config)
    local, t_local = timed(lambda: measure_dataset_composition(table, dataset, config, NullProgress()))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote_config = replace(config, scheduler=cluster.scheduler_address)
        measure_dataset_composition(table.take(np.arange(256)), dataset, remote_config, NullProgress())  # warm up
        remote, t_remote = timed(lambda: measure_dataset_composition(table, dataset, remote_config, NullProgress()))
    same = (np.array_equal(local.class_counts, remote.class_counts)
            and all(np.array_equal(local[c], remote[c]) for c in local.columns))
    gpx = sum(p.width * p.height for p in dataset.pairs) / 1e9
    print(f"  composition of {len(pairs)} sheets ({gpx:.2f} Gpx, {len(table):,} patches): one thread here {t_local:.1f} s, "
          f"LocalCluster of 2 worker processes {t_remote:.1f} s = {t_local / t_remote:.2f}× "
          f"({'same table' if same else 'TABLES DIFFER'}; {load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "patch_balancer_scale"),
                        help="where the generated sheets are kept between runs")
    parser.add_argument("--sheets", type=int, default=606, help="4096² sheets for the 10 Gpx run (606 → 155,136 patches)")
    parser.add_argument("--skip-qgis", action="store_true", help="only the engine's stages, determinism and Dask")
    args = parser.parse_args()
    data = Path(args.data)
    images, masks = make_dataset(data / "sheets", args.sheets)
    small_images, small_masks = data / "small" / "images", data / "small" / "masks"
    small_images.mkdir(parents=True, exist_ok=True)
    small_masks.mkdir(parents=True, exist_ok=True)
    for i in range(40):  # the first 40 sheets, by link, for the 64 px run
        for src, dst in ((images, small_images), (masks, small_masks)):
            name = next(src.glob(f"sheet_{i:05d}_*.tif")).name
            if not (dst / name).exists():
                os.link(src / name, dst / name)
    pairs = pair_folders(str(images), str(masks))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if not args.skip_qgis:
            print(f"10 Gpx end to end through qgis_process ({len(pairs)} sheets of 4096², 256 px patches, masks only):")
            for name, extra, what in (("default_1", {}, "default (black-border rule reads the images)"),
                                      ("default_2", {}, "default, again"),
                                      ("masks", {"EXCLUDE_BLACK_BORDER": "false", "EXCLUDE_IMAGE_NODATA": "false"},
                                       "image rules off (only the masks are read)")):
                wall, peak, digest = end_to_end(images, masks, out, 256, name, **extra)
                print(f"  {what:46s} {wall:6.1f} s, peak {peak:.2f} GiB, CSV {digest}  ({load()})")
            same = sha(out / "default_1.csv") == sha(out / "default_2.csv")
            print(f"  two default runs: CSVs {'byte-identical' if same else 'DIFFERENT'}")
            seconds, peak = inside_qgis(small_images, small_masks, out, 64, "small")
            print(f"163,840 patches of 64 px (40 sheets) inside QGIS: {seconds:.1f} s (layer, CSV, report), "
                  f"peak {peak:.2f} GiB  ({load()})")
        print("Stages at 10 Gpx, engine in this process:")
        dataset, measured = stages(pairs, out)
        print("Determinism of the uniqueness modes at 10 Gpx:")
        uniqueness_determinism(dataset, measured, out)
        print("Dask:")
        dask_speedup(pairs[:120])


if __name__ == "__main__":
    main()
