"""A large tiled dataset for the scale benchmarks: N image/mask pairs of SIDE² px, seven classes.

Like an orthophoto mosaic cut into map sheets: each mask is mostly background (class 0) with fields,
roads, buildings, water and two rare classes; some sheets have a nodata corner in the mask and a black
collar in the image (the exclusion rules have work to do). Only `distinct` sheets are generated; the
others are hard links to them under their own names, so 10 Gpx costs a few hundred MB of disk and a
minute to make. Every sheet is still opened, decoded and measured on its own by the tool.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

NODATA = 255
CLASSES = 7
BLOCK = 512


def sheet_mask(side: int, seed: int) -> np.ndarray:
    """uint8 labels 0..6 (+ a nodata corner on every third sheet), made of blocky shapes so it compresses
    like a real label map."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((side, side), np.uint8)
    yy, xx = np.ogrid[:side, :side]
    for cls, count, lo, hi in ((1, 12, side // 16, side // 5), (2, 8, 8, 24), (3, 60, 12, 48),
                               (4, 4, side // 32, side // 10), (5, 6, 6, 20), (6, 2, 10, 30)):
        for _ in range(count):
            r, c = rng.integers(0, side, 2)
            h, w = rng.integers(lo, hi + 1, 2)
            if cls == 2:  # roads: long thin strips across the sheet
                if rng.random() < 0.5:
                    mask[r:r + h, :] = cls
                else:
                    mask[:, c:c + w] = cls
            elif cls == 4:  # water: discs
                mask[(yy - r) ** 2 + (xx - c) ** 2 < (h // 2) ** 2] = cls
            else:
                mask[r:r + h, c:c + w] = cls
    if seed % 3 == 0:
        corner = side // 6
        mask[:corner, :corner] = NODATA
    return mask


PALETTE = np.array([(116, 140, 72), (200, 180, 90), (150, 150, 150), (178, 60, 48),
                    (50, 90, 170), (30, 110, 40), (220, 220, 210)], np.uint8)


def sheet_image(mask: np.ndarray, seed: int) -> np.ndarray:
    """(3, side, side) uint8 RGB: the class colour plus mild texture; a black collar on every fourth sheet."""
    rng = np.random.default_rng(seed + 1000)
    labels = np.where(mask == NODATA, 0, mask)
    image = PALETTE[labels].transpose(2, 0, 1).copy()
    texture = rng.integers(0, 12, (1, BLOCK, BLOCK), dtype=np.uint8)
    side = mask.shape[0]
    reps = -(-side // BLOCK)
    image += np.tile(texture, (1, reps, reps))[:, :side, :side]
    if seed % 4 == 1:
        image[:, :, : side // 20] = 0
    return image


def write_pair(image_path: Path, mask_path: Path, side: int, seed: int) -> None:
    profile = dict(driver="GTiff", width=side, height=side, crs="EPSG:2154", tiled=True, blockxsize=BLOCK,
                   blockysize=BLOCK, compress="deflate", transform=from_origin(seed * side, side, 1, 1))
    mask = sheet_mask(side, seed)
    with rasterio.open(mask_path, "w", count=1, dtype="uint8", nodata=NODATA, **profile) as dst:
        dst.write(mask, 1)
    with rasterio.open(image_path, "w", count=3, dtype="uint8", **profile) as dst:
        dst.write(sheet_image(mask, seed))


def make_dataset(folder: Path, sheets: int, side: int = 4096, distinct: int = 8) -> tuple[Path, Path]:
    """images/ and masks/ under `folder` (reused when already complete); returns the two folders."""
    images, masks = folder / "images", folder / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for i in range(sheets):
        image, mask = images / f"sheet_{i:05d}_rgb.tif", masks / f"sheet_{i:05d}_mask.tif"
        if image.exists() and mask.exists():
            continue
        if i < distinct:
            write_pair(image, mask, side, i)
        else:
            os.link(images / f"sheet_{i % distinct:05d}_rgb.tif", image)
            os.link(masks / f"sheet_{i % distinct:05d}_mask.tif", mask)
    return images, masks
