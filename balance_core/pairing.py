"""Pair image rasters with their label masks: by order, or by matching file names.

File names match when they are equal once the role words are removed
(`tile_07_rgb.tif` ↔ `tile_07_mask.tif`, `a/123.tif` ↔ `b/123.tif`). Anything that
cannot be paired one to one is refused with the names at fault, never guessed.
"""
from __future__ import annotations

import os
import re

from .errors import PairingError

ROLE_WORDS = {"image", "images", "img", "imagery", "rgb", "ortho", "mask", "masks", "label", "labels",
              "lbl", "gt", "groundtruth", "annotation", "annotations", "seg", "segmentation", "class", "classes"}
RASTER_EXTENSIONS = (".tif", ".tiff", ".vrt", ".img", ".jp2", ".png")
_SHOWN = 5


def name_key(path: str) -> str:
    """The file name without folder, extension, case or role words."""
    stem = os.path.splitext(os.path.basename(path))[0].lower()
    return "_".join(t for t in re.split(r"[_\-. ]+", stem) if t and t not in ROLE_WORDS)


def _listing(paths: list[str]) -> str:
    names = [os.path.basename(p) for p in paths[:_SHOWN]]
    return ", ".join(names) + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")


def pair_by_order(images: list[str], masks: list[str]) -> list[tuple[str, str]]:
    if not images:
        raise PairingError("No image raster given.")
    if len(images) != len(masks):
        raise PairingError(
            f"{len(images)} image(s) but {len(masks)} mask(s): pairing by order needs one mask per image."
        )
    return list(zip(images, masks))


def pair_by_name(images: list[str], masks: list[str]) -> list[tuple[str, str]]:
    """One mask per image by `name_key`; a single image and a single mask always pair."""
    if len(images) == 1 and len(masks) == 1:
        return [(images[0], masks[0])]
    if not images:
        raise PairingError("No image raster given.")

    def keyed(paths: list[str], role: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for path in paths:
            key = name_key(path)
            if key in out:
                raise PairingError(
                    f"Two {role} files have the same name once words like 'image'/'mask' are removed: "
                    f"{os.path.basename(out[key])} and {os.path.basename(path)}. Rename one, or pair by order."
                )
            out[key] = path
        return out

    by_image, by_mask = keyed(images, "image"), keyed(masks, "mask")
    lonely_images = [p for k, p in by_image.items() if k not in by_mask]
    lonely_masks = [p for k, p in by_mask.items() if k not in by_image]
    if lonely_images or lonely_masks:
        parts = []
        if lonely_images:
            parts.append(f"no mask for image(s) {_listing(lonely_images)}")
        if lonely_masks:
            parts.append(f"no image for mask(s) {_listing(lonely_masks)}")
        raise PairingError(
            "Images and masks cannot be paired by file name: " + "; ".join(parts) + ". Names pair when they are "
            "equal without folder, extension and words like image/rgb/mask/label (tile_07_rgb.tif ↔ tile_07_mask.tif)."
        )
    return [(path, by_mask[key]) for key, path in by_image.items()]


def folder_rasters(folder: str, role: str) -> list[str]:
    """Raster files directly inside `folder`, sorted by name."""
    if not os.path.isdir(folder):
        raise PairingError(f"The {role} folder {folder!r} does not exist.")
    found = sorted(
        os.path.join(folder, name) for name in os.listdir(folder)
        if name.lower().endswith(RASTER_EXTENSIONS) and os.path.isfile(os.path.join(folder, name))
    )
    if not found:
        raise PairingError(f"The {role} folder {folder!r} holds no raster ({', '.join(RASTER_EXTENSIONS)}).")
    return found


def pair_folders(image_folder: str, mask_folder: str) -> list[tuple[str, str]]:
    if os.path.abspath(image_folder) == os.path.abspath(mask_folder):
        raise PairingError("The image and mask folders are the same folder; keep images and masks in two folders.")
    return pair_by_name(folder_rasters(image_folder, "image"), folder_rasters(mask_folder, "mask"))
