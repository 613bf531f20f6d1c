"""Split patches at 155,000 patches: target (issue 16) ≤ 10 s for the split itself.

The patch table comes from the engine (grid + composition of the demo scene's mask tiled to
16384 px), then `split_patches` — blocks, the stratified search, the buffer, the summary — is timed
on exactly 155,000 patches, tiled (stride = patch size) and overlapping (stride = half the patch
size, where the buffer has work to do). Counting instances reads the whole mask and is timed
apart. Best of N runs each (shared machine). Also printed: how much the search beats a random
assignment of the same blocks with the same seed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from balance_core.blocks import patch_bounds  # noqa: E402
from balance_core.config import BalanceConfig  # noqa: E402
from balance_core.dataset import dataset_footprints, open_dataset  # noqa: E402
from balance_core.instances import count_instances  # noqa: E402
from balance_core.pipeline import composition_step, grid_step  # noqa: E402
from balance_core.progress import NullProgress  # noqa: E402
from balance_core.splits import SplitConfig, split_codes, split_patches  # noqa: E402
from bench_mask_stats import write_mask  # noqa: E402
from bench_plan import write_image  # noqa: E402

PATCHES = 155_000


def table_of(image: str, mask: str, patch: int, stride: int):
    config = BalanceConfig(patch_size=patch, stride=stride, exclude_black_border=False)
    dataset = open_dataset([(image, mask)])
    table = grid_step(dataset, config)
    table = composition_step(table, dataset, config, NullProgress())
    table = table.take(np.arange(PATCHES))
    return table, patch_bounds(dataset_footprints(table, dataset))


def best_of(runs: int, fn):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=16384, help="mask side in pixels")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        image, mask = str(Path(folder) / "image.tif"), str(Path(folder) / "mask.tif")
        write_mask(mask, args.size)
        write_image(image, args.size)
        print(f"Split patches: {PATCHES:,} patches of a {args.size}² px mask (demo scene tiled), best of {args.runs}")
        print(f"{'case':44s} {'blocks':>7s} {'time':>8s}  fractions (train/val/test)   class gap  vs random")
        for label, patch, stride, buffer in (("tiled 41 px, 8 patches wide, no buffer", 41, 41, 0.0),
                                             ("overlapping 82 px / stride 41, buffer 41", 82, 41, 41.0),
                                             ("tiled 41 px, blocks of 2 patches", 41, 41, 0.0)):
            table, bounds = table_of(image, mask, patch, stride)
            block = 82.0 if "blocks of 2" in label else 0.0
            config = SplitConfig(block_size=block, buffer=buffer, seed=42)
            seconds, outcome = best_of(args.runs, lambda: split_patches(table, bounds, config, NullProgress()))
            s = outcome.summary
            ratio = outcome.random[0] / outcome.score[0] if outcome.score[0] > 0 else float("inf")
            print(f"{label:44s} {outcome.n_blocks:7d} {seconds:7.2f}s  "
                  f"{'/'.join(f'{a:.3f}' for a in s.achieved):27s} {s.max_allocation_error * 100:5.2f} pt  "
                  f"{ratio:,.0f}× lower score; buffer excluded {int(s.buffer_excluded.sum())}")
            verdict = "met" if seconds <= 10 else "NOT MET"
            print(f"{'':44s} target ≤ 10 s: {verdict}")
            if stride == patch and not block:
                codes = split_codes(outcome.table, config.spec.names)
                drawable = ~outcome.table["excluded"]
                start = time.perf_counter()
                instances = count_instances(outcome.table, codes, drawable, 3)
                print(f"{'':44s} instances counted in {time.perf_counter() - start:.2f}s "
                      f"(reads {args.size}² px once): {instances.tolist()}")


if __name__ == "__main__":
    main()
