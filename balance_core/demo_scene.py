"""A generated scene like the seeds' situation: ≥ 97 % background, thin and rare minority classes.

Classes: 0 field (background), 1 road (thin lines), 2 building (small rare blocks), 3 pond (rare).
The image is RGB with a black collar on its west edge and the mask has an unlabelled (nodata 255)
corner, so both border exclusions show up in the demo.
"""
from __future__ import annotations

import numpy as np

CLASS_NAMES = {0: "field", 1: "road", 2: "building", 3: "pond"}
CLASS_COLOURS = {0: "#b8d98c", 1: "#7f7f7f", 2: "#d7301f", 3: "#2c7fb8"}
COLORS = {0: (116, 140, 72), 1: (150, 150, 150), 2: (178, 60, 48), 3: (50, 90, 170)}
NODATA = 255


def make_mask(size: int = 2560, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), dtype=np.uint8)
    for _ in range(4):  # thin roads, 4 px wide, straight across the scene
        pos = int(rng.integers(100, size - 100))
        if rng.random() < 0.5:
            mask[pos:pos + 4, :] = 1
        else:
            mask[:, pos:pos + 4] = 1
    for _ in range(45):  # rare buildings in a few clusters
        cy, cx = rng.integers(200, size - 200, size=2)
        for _ in range(int(rng.integers(1, 4))):
            y, x = cy + int(rng.integers(-60, 60)), cx + int(rng.integers(-60, 60))
            h, w = rng.integers(8, 20, size=2)
            mask[y:y + h, x:x + w] = 2
    yy, xx = np.ogrid[:size, :size]
    for _ in range(2):  # two small ponds
        cy, cx, r = int(rng.integers(300, size - 300)), int(rng.integers(300, size - 300)), int(rng.integers(25, 40))
        mask[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 3
    mask[: size // 10, size - size // 10:] = NODATA  # an unlabelled corner
    return mask


def make_scene(size: int = 2560, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    mask = make_mask(size, seed)
    rng = np.random.default_rng(seed + 1)
    image = np.empty((3, size, size), dtype=np.uint8)
    noise = rng.normal(0, 12, size=(size, size))
    for band in range(3):
        layer = np.zeros((size, size), dtype=np.float32)
        for value, color in COLORS.items():
            layer[mask == value] = color[band]
        layer[mask == NODATA] = COLORS[0][band]
        image[band] = np.clip(layer + noise, 1, 255).astype(np.uint8)
    image[:, :, : size // 40] = 0  # black collar outside the scene
    return image, mask


def write_scene(image_path: str, mask_path: str, size: int = 2560, seed: int = 7) -> None:
    import rasterio  # writing GeoTIFFs: rasterio (the engine only reads through raster_io)
    from rasterio.transform import from_origin

    image, mask = make_scene(size, seed)
    transform = from_origin(843000.0, 6519000.0, 0.5, 0.5)  # 0.5 m pixels, RGF93 / Lambert-93
    common = dict(driver="GTiff", width=size, height=size, crs="EPSG:2154", transform=transform,
                  tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    with rasterio.open(image_path, "w", count=3, dtype="uint8", photometric="RGB", **common) as dst:
        dst.write(image)
    with rasterio.open(mask_path, "w", count=1, dtype="uint8", nodata=NODATA, **common) as dst:
        dst.write(mask[None])
