"""The planner vs. one build, same process: 1 Gpx of masks, 4 patch sizes × 5 caps.

Target (issue 15): planning every (patch size, cap) costs at most 2× one masks-only *Build balanced
dataset* at the smallest size. The build here is the engine's (grid, composition, exclusions,
clusters, class_balance weights), without writing a layer — a stricter baseline than the
algorithm, which also writes the GeoPackage. Best of N runs each, interleaved (shared machine).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from balance_core.config import BalanceConfig  # noqa: E402
from balance_core.pipeline import build_balanced_dataset  # noqa: E402
from balance_core.planning import plan_balance, recommend  # noqa: E402
from bench_mask_stats import write_mask  # noqa: E402

SIZES, CAPS = (64, 128, 256, 512), (1, 2, 3, 5, 8)


def write_image(path: str, size: int) -> None:
    """A one-band image the black-border rule reads (grey, a black collar on the left)."""
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs="EPSG:2154",
                   transform=from_origin(0, size, 1, 1), tiled=True, blockxsize=512, blockysize=512, compress="deflate")
    block = np.full((1, 512, 512), 120, np.uint8)
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 512):
            for col in range(0, size, 512):
                tile = block.copy()
                if col == 0:
                    tile[:, :, :40] = 0
                dst.write(tile, window=rasterio.windows.Window(col, row, 512, 512))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiles", type=int, default=4, help="raster pairs (each --side² px)")
    parser.add_argument("--side", type=int, default=16384)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pairs = []
        started = time.perf_counter()
        for i in range(args.tiles):
            image, mask = f"{tmp}/tile_{i}_rgb.tif", f"{tmp}/tile_{i}_mask.tif"
            write_image(image, args.side)
            write_mask(mask, args.side)
            pairs.append((image, mask))
        gpx = args.tiles * args.side ** 2 / 1e9
        print(f"{args.tiles} raster pairs of {args.side}² px = {gpx:.2f} Gpx of masks "
              f"(generated in {time.perf_counter() - started:.0f} s)")
        build_times, plan_times = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            table, _ = build_balanced_dataset(pairs, BalanceConfig(patch_size=SIZES[0], max_oversampling=5))
            build_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rows = plan_balance(pairs, BalanceConfig(), SIZES, CAPS)
            plan_times.append(time.perf_counter() - t0)
        build, plan = min(build_times), min(plan_times)
        print(f"Build balanced dataset, {SIZES[0]} px, class_balance cap 5 ({len(table):,} patches): {build:.1f} s")
        print(f"Plan, {len(SIZES)} sizes × {len(CAPS)} caps ({len(rows)} settings, one pass): {plan:.1f} s "
              f"= {plan / build:.2f}× the build (target ≤ 2×)")
        chosen = recommend(rows, 5.0)
        print(f"Recommendation: {chosen.text}")
        print(f"{'size':>6}{'cap':>5}{'patches':>10}{'imbalance':>12}{'ESS':>8}")
        for r in rows:
            print(f"{r.patch_size:>6}{r.cap:>5g}{r.patches:>10,}{r.imbalance:>12.1f}{r.ess_fraction:>8.0%}")


if __name__ == "__main__":
    main()
