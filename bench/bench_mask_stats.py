"""Mask-statistics throughput: the streamed composition stage vs. two baselines, same process.

Baselines: reading the whole mask once with rasterio (the I/O floor) and the reference's way,
a per-patch loop that opens the file and calls np.unique for every patch. Best of N runs each,
interleaved, because this machine is shared and noisy. Peak memory of the streamed stage on a
16384×16384 mask is measured in a fresh child process (VmHWM).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from balance_core.composition import measure_composition  # noqa: E402
from balance_core.config import BalanceConfig  # noqa: E402
from balance_core.grid import make_grid  # noqa: E402
from balance_core.progress import NullProgress  # noqa: E402
from balance_core.rasters import open_pair  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
from demo_scene import NODATA, make_mask  # noqa: E402


def write_mask(path: str, size: int) -> None:
    """The demo scene's mask (≥ 97 % background, thin roads, rare buildings and ponds, a nodata
    corner), as GIS tools write masks: tiled 512 px, DEFLATE. Built from 2048 px scenes so that
    16384 px stays cheap to generate; rows and tiles differ, as in real label maps."""
    scene = 2048
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8", nodata=NODATA,
                   crs="EPSG:2154", transform=from_origin(0, size, 1, 1), tiled=True,
                   blockxsize=512, blockysize=512, compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, scene):
            for col in range(0, size, scene):
                tile = make_mask(scene, seed=row * 7 + col)
                dst.write(tile[None], window=Window(col, row, scene, scene))


def ours(image: str, mask: str, patch: int) -> None:
    config = BalanceConfig(patch_size=patch, exclude_black_border=False)
    pair = open_pair(image, mask)
    table = make_grid(pair.width, pair.height, patch, patch)
    measure_composition(table, pair, config, NullProgress())


def whole_read(mask: str) -> None:
    with rasterio.open(mask) as ds:
        ds.read(1)


def per_patch_loop(mask: str, patch: int) -> None:
    with rasterio.open(mask) as ds:
        width, height = ds.width, ds.height
    for row in range(0, height - patch + 1, patch):
        for col in range(0, width - patch + 1, patch):
            with rasterio.open(mask) as ds:
                window = ds.read(1, window=Window(col, row, patch, patch))
            np.unique(window, return_counts=True)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# VmHWM (the process's own peak RSS, KiB): ru_maxrss would carry the parent's peak across fork+exec.
PEAK_RSS = "VmHWM"


def peak_memory_child(image: str, mask: str, patch: int) -> float:
    code = (f"import sys, resource; sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r});"
            f"import bench_mask_stats as b; b.ours({image!r}, {mask!r}, {patch});"
            f"print({PEAK_RSS!r} and [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # KiB → MiB


def baseline_memory_child() -> float:
    code = (f"import sys, resource; sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r});"
            f"import bench_mask_stats; print({PEAK_RSS!r} and [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--memory-size", type=int, default=16384)
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mask = f"{tmp}/mask.tif"
        write_mask(mask, args.size)
        image = mask  # the mask is its own image here: only mask statistics are timed
        mpx = args.size * args.size / 1e6
        ours(image, mask, args.patch)  # warm the OS cache for everyone
        t_read = t_ours = t_loop = float("inf")
        for _ in range(args.repeats):  # interleaved, best of each
            t_read = min(t_read, best_of(lambda: whole_read(mask), 1))
            t_ours = min(t_ours, best_of(lambda: ours(image, mask, args.patch), 1))
            t_loop = min(t_loop, best_of(lambda: per_patch_loop(mask, args.patch), 1))
        n_patches = (args.size // args.patch) ** 2
        print(f"Mask statistics on a {args.size}×{args.size} px uint8 demo-scene mask (DEFLATE, 512 px tiles), "
              f"{n_patches} patches of {args.patch} px, best of {args.repeats}:")
        print(f"  whole-raster read (I/O floor)  {t_read:7.3f} s  {mpx / t_read:8.1f} Mpx/s")
        print(f"  streamed composition (ours)    {t_ours:7.3f} s  {mpx / t_ours:8.1f} Mpx/s")
        print(f"  per-patch open + np.unique     {t_loop:7.3f} s  {mpx / t_loop:8.1f} Mpx/s")
        print(f"  ours vs per-patch loop: {t_loop / t_ours:.1f}× faster (target ≥ 5×)")
        print(f"  ours vs whole-raster read: {t_ours / t_read:.2f}× its time (target ≤ 2×)")

        big = f"{tmp}/big.tif"
        write_mask(big, args.memory_size)
        peak = peak_memory_child(big, big, args.patch)
        base = baseline_memory_child()
        print(f"Peak memory, streamed composition of a {args.memory_size}×{args.memory_size} px mask: "
              f"{peak:.0f} MiB RSS (imports alone: {base:.0f} MiB; target < 1024 MiB; the raster is "
              f"{args.memory_size ** 2 / 2 ** 20:.0f} MiB in memory)")


if __name__ == "__main__":
    main()
