"""Embedding throughput: our DINOv2 path vs the reference's way, same model, same process.

The model is the dinov2-small architecture (384-d, 12 layers, 6 heads, 14 px patches),
randomly initialised (weights cannot be downloaded here), saved and loaded through
`from_pretrained` as a user's model is. Patches are 256 px crops of the Lyon test image.

- baseline, the reference's way: PIL image per patch → the DINOv2 image processor
  (shortest edge 256, bicubic, centre crop 224, rescale, ImageNet normalisation) → fp32 forward.
- ours: batched tensors, the whole patch resized to 224 (bicubic, antialiased), ImageNet
  normalisation, forward in the precision `auto` picks on this CPU (and in fp32, for reference).

Equality: on 224 px patches with resizing and cropping switched off in the processor, both
paths see the same pixels, and our fp32 embeddings must equal the baseline's.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from PIL import Image
from rasterio.windows import Window
from transformers import BitImageProcessorPil, Dinov2Config, Dinov2Model

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from balance_core.dinov2 import DinoEmbedder, load_model  # noqa: E402

SMALL = dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
             patch_size=14, image_size=518)
DINOV2_PROCESSOR = dict(do_resize=True, size={"shortest_edge": 256}, resample=3, do_center_crop=True,
                        crop_size={"height": 224, "width": 224}, do_rescale=True, rescale_factor=1 / 255,
                        do_normalize=True, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])


def crops(n: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    with rasterio.open(REPO / "tests/data/lyon/image_rgb.tif") as ds:
        image = ds.read()
    rows = rng.integers(0, image.shape[1] - size, n)
    cols = rng.integers(0, image.shape[2] - size, n)
    return np.stack([image[:, r:r + size, c:c + size] for r, c in zip(rows, cols)])  # (n, 3, size, size) uint8


def processor():
    from transformers.utils import logging

    logging.set_verbosity_error()
    return BitImageProcessorPil(**DINOV2_PROCESSOR)  # what AutoImageProcessor gives without torchvision


def baseline(model, proc, patches: np.ndarray, batch: int, **overrides) -> np.ndarray:
    out = []
    for s in range(0, len(patches), batch):
        images = [Image.fromarray(p.transpose(1, 2, 0)) for p in patches[s:s + batch]]
        pixels = proc(images=images, return_tensors="pt", **overrides)["pixel_values"]
        with torch.no_grad():
            out.append(model(pixel_values=pixels).last_hidden_state[:, 0].numpy())
    return np.concatenate(out)


def ours(embedder, patches: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([embedder.embed(patches[s:s + batch].astype(np.float32) / 255.0)
                           for s in range(0, len(patches), batch)])


def timed(fn, n: int) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patches", type=int, default=96)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    processor()  # also quiets transformers' progress bars
    from transformers.utils import logging

    logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as folder:
        Dinov2Model(Dinov2Config(**SMALL)).eval().save_pretrained(folder)
        model = load_model(folder).eval()
        fast = DinoEmbedder(folder, device="cpu", precision="auto")
        exact = DinoEmbedder(folder, device="cpu", precision="fp32")
        proc = processor()
        print(f"dinov2-small architecture, CPU, {torch.get_num_threads()} threads, batch {args.batch}, "
              f"{args.patches} patches of 256 px; 'auto' precision here = {fast.precision}")

        same = crops(16, 224)
        ref = baseline(model, proc, same, args.batch, do_resize=False, do_center_crop=False)
        mine = ours(exact, same, args.batch)
        err = np.abs(mine - ref).max()
        print(f"equality on 224 px patches (same pre-processing): max |ours fp32 − baseline| = {err:.2e} "
              f"(embedding scale {np.abs(ref).max():.2f}) → {'OK' if err < 1e-3 else 'DIFFERENT'}")
        low = ours(fast, same, args.batch)
        cos = (low * ref).sum(1) / np.linalg.norm(low, axis=1) / np.linalg.norm(ref, axis=1)
        print(f"ours {fast.precision} vs baseline on the same pixels: min cosine similarity {cos.min():.5f}")

        patches = crops(args.patches, 256)
        results = {"baseline (HF processor + PIL, fp32)": [], "ours fp32": [], f"ours {fast.precision} (auto)": []}
        runs = list(zip(results, [lambda: baseline(model, proc, patches, args.batch),
                                  lambda: ours(exact, patches, args.batch),
                                  lambda: ours(fast, patches, args.batch)]))
        for _ in range(args.repeats):  # interleaved: the machine is shared and noisy
            for name, fn in runs:
                results[name].append(timed(fn, len(patches)))
        base = max(results["baseline (HF processor + PIL, fp32)"])
        for name, rates in results.items():
            print(f"  {name:40s} {max(rates):6.1f} patches/s  ({max(rates) / base:.2f}× baseline)")


if __name__ == "__main__":
    main()
