"""What the Toolbox shows of each algorithm besides its help: icon, search tags, help link, group.

The one-shot *Build balanced dataset* and the planner sit in the first group, the four steps in
"Step by step" (the Toolbox sorts groups and algorithms by name, so the one-shot comes first).
The help button opens the README section of the algorithm on the plugin's homepage (metadata.txt).
"""
from __future__ import annotations

import configparser
import functools
import os

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ICON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icons")
MAIN_GROUP, MAIN_GROUP_ID = "Balanced sampling", "balancedsampling"
STEP_GROUP, STEP_GROUP_ID = "Step by step", "stepbystep"

COMMON_TAGS = ("patch", "segmentation", "training data", "deep learning", "sampling", "class imbalance")
# name → (icon file, group is the steps', README heading anchor, tags)
INFO = {
    "createpatchgrid": ("grid.svg", True, "processing-toolbox",
                        ("grid", "tile", "chip", "window", "raster", "mask", "area of interest")),
    "computeclasscomposition": ("composition.svg", True, "what-the-outputs-hold",
                                ("class", "composition", "fraction", "label", "mask", "nodata", "exclude", "entropy")),
    "computevisualuniqueness": ("uniqueness.svg", True, "visual-uniqueness-dinov2",
                                ("dinov2", "embedding", "uniqueness", "nearest neighbour", "knn", "similarity",
                                 "diversity")),
    "computesamplerweights": ("weights.svg", True, "class-balance-what-ratio-the-data-loader-serves",
                              ("sampler", "weight", "WeightedRandomSampler", "pytorch", "class balance",
                               "oversampling", "loss weights", "report")),
    "buildbalanceddataset": ("../../icon.svg", False, "processing-toolbox",
                             ("sampler", "weight", "WeightedRandomSampler", "pytorch", "class balance", "grid",
                              "composition", "uniqueness", "dinov2", "report", "csv")),
    "planbalance": ("plan.svg", False, "plan-patch-size-and-oversampling",
                    ("plan", "patch size", "oversampling", "cap", "imbalance", "effective sample size")),
    "splitpatches": ("split.svg", False, "split-patches-train-validation-test",
                     ("split", "train", "validation", "test", "holdout", "stratified", "spatial blocks", "buffer",
                      "leakage", "instances")),
    "selectcoreset": ("../../icon.svg", False, "without-qgis-the-patch-balancer-command",
                      ("coreset", "core-set", "budget", "subset", "selection", "diversity", "entropy", "embedding")),
}


def icon_path(name: str) -> str:
    entry = INFO.get(name)
    return os.path.normpath(os.path.join(ICON_DIR, entry[0])) if entry else os.path.join(PLUGIN_DIR, "icon.svg")


def in_step_group(name: str) -> bool:
    return bool(INFO.get(name, (None, False))[1])


def tags(name: str) -> list:
    entry = INFO.get(name)
    return list(COMMON_TAGS) + list(entry[3] if entry else ())


@functools.lru_cache(maxsize=1)
def homepage() -> str:
    """The homepage from metadata.txt ('' when there is none)."""
    meta = configparser.ConfigParser(interpolation=None)
    try:
        meta.read(os.path.join(PLUGIN_DIR, "metadata.txt"), encoding="utf-8")
        return meta.get("general", "homepage", fallback="").strip()
    except (OSError, configparser.Error):
        return ""


def help_url(name: str) -> str:
    """The README section about the algorithm on the homepage (where the README is the front page)."""
    base = homepage()
    entry = INFO.get(name)
    if not base:
        return ""
    return f"{base}#{entry[2]}" if entry else base
