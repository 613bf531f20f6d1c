"""Which optional Python packages each part of a run needs, which are missing here, and how to get them.

The plugin loads with only what QGIS ships (numpy, GDAL's Python bindings, PyQt): everything below is
imported where it is used, and a run whose settings need a missing package is refused before any work
with the package named and the way to get it (`missing_for(config)` → `install_message(...)`).

| capability                                   | packages                     | installer group |
|----------------------------------------------|------------------------------|-----------------|
| class_balance weights (the default method)   | scipy (HiGHS linear programs)| balance         |
| composition clusters (KMeans; informational  | scikit-learn (+ scipy)       | balance         |
|   with class_balance, needed by the rank methods)                            |                 |
| visual uniqueness with DINOv2                | torch, transformers          | uniqueness      |
| the embeddings cache (Parquet)               | pyarrow                      | uniqueness      |
| kNN backends hnsw / faiss / sklearn          | hnswlib / faiss-cpu / scikit-learn | knn / balance |

Masks-only runs with `repeat_factor` or `sqrt_inverse_freq`, the weights-free `descriptor` embedder and the
`exact` kNN search need nothing beyond numpy and GDAL.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Dict, List, Tuple

MENU_PATH = "Plugins › Patch Balancer › Install dependencies…"


@dataclass(frozen=True)
class Group:
    """What the dependency installer installs together."""

    key: str
    label: str
    modules: Tuple[str, ...]  # import names that tell whether the group is present
    requirements: Tuple[str, ...]  # pip requirement specifiers
    purpose: str
    one_by_one: bool = False  # each requirement is optional on its own (wheels may be missing on a platform)
    offered: bool = True  # ticked in the dialog when missing; False for what few users need (a cluster)


GROUPS: Tuple[Group, ...] = (
    Group("balance", "Class balance and composition clusters", ("scipy", "sklearn"),
          ("scikit-learn>=1.1,<1.8",),  # brings scipy, joblib and threadpoolctl
          "The default class_balance weights (scipy) and the composition clusters (scikit-learn). Without them "
          "a masks-only run can still use the sampling methods repeat_factor or sqrt_inverse_freq."),
    Group("uniqueness", "Visual uniqueness with DINOv2", ("torch", "transformers", "pyarrow"),
          ("torch>=2.1", "transformers>=4.40,<6", "pyarrow>=12"),
          "Image embeddings with a DINOv2 model (torch CPU build, transformers) and the Parquet embeddings cache "
          "(pyarrow); about 1 GB. The weights-free 'descriptor' embedder needs none of them."),
    Group("knn", "Faster nearest neighbours for large grids", ("hnswlib", "faiss"),
          ("hnswlib", "faiss-cpu"),
          "Approximate (hnsw) and flat (faiss) nearest-neighbour search for uniqueness over very many patches; "
          "installed where wheels exist for this platform. The built-in exact search needs neither.",
          one_by_one=True),
    Group("cluster", "Running on a Dask cluster", ("distributed",),
          ("distributed>=2024.1",),
          "Sends the reading of the rasters (class composition, embeddings) to a Dask cluster when a scheduler "
          "address is given (advanced parameter DASK_SCHEDULER). Not needed to run on this computer.",
          offered=False),
)
PIP_NAMES: Dict[str, str] = {"scipy": "scipy", "sklearn": "scikit-learn", "torch": "torch",
                             "transformers": "transformers", "pyarrow": "pyarrow", "hnswlib": "hnswlib",
                             "faiss": "faiss-cpu", "rasterio": "rasterio",
                             "distributed": "distributed"}
GROUP_OF: Dict[str, str] = {module: group.key for group in GROUPS for module in group.modules}

# the rank methods that score composition by 1 / cluster size: they need the KMeans clusters
CLUSTER_METHODS = ("rank_max", "rank_multiply", "rank_add", "multiplicative", "composition_only")


def importable(module: str) -> bool:
    """Whether `import module` would find it (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def group(key: str) -> Group:
    return next(g for g in GROUPS if g.key == key)


def group_status(key: str) -> Dict[str, bool]:
    """{import name: present} for one installer group."""
    return {module: importable(module) for module in group(key).modules}


def clusters_needed(config) -> bool:
    """Whether the sampling method scores composition by cluster (else the clusters are only informational)."""
    return config.needs_clusters and config.sampling_method in CLUSTER_METHODS


def clusters_possible() -> bool:
    return importable("sklearn") and importable("scipy")


def needed_modules(config) -> List[Tuple[str, str]]:
    """(import name, what needs it) for every optional package these settings use."""
    needs: List[Tuple[str, str]] = []
    method = config.sampling_method
    if config.needs_clusters and method == "class_balance":
        needs.append(("scipy", "sampling method class_balance"))
    if clusters_needed(config):
        needs += [("sklearn", f"sampling method {method} (composition clusters)"),
                  ("scipy", f"sampling method {method} (composition clusters)")]
    if config.needs_uniqueness:
        if getattr(config, "external_embeddings", None):  # read, not computed: no model
            needs.append(("pyarrow", "the external embeddings (Parquet)"))
        elif config.embedder.strip().lower() != "descriptor":
            needs += [("torch", f"embedder {config.embedder}"), ("transformers", f"embedder {config.embedder}")]
        if config.embeddings_cache:
            needs.append(("pyarrow", "the embeddings cache"))
        backend_module = {"hnsw": "hnswlib", "faiss": "faiss", "sklearn": "sklearn"}.get(config.knn_backend)
        if backend_module:
            needs.append((backend_module, f"kNN backend {config.knn_backend}"))
    if not (importable("osgeo") or importable("rasterio")):
        needs.append(("rasterio", "reading rasters (GDAL's Python bindings are missing)"))
    seen, out = set(), []
    for module, why in needs:
        if module not in seen:
            seen.add(module)
            out.append((module, why))
    return out


def missing_for(config) -> List[Tuple[str, str]]:
    """(import name, what needs it) for each package these settings need and this Python lacks."""
    return [(module, why) for module, why in needed_modules(config) if not importable(module)]


def require(module: str, why: str):
    """`import module`, or a `DependencyError` saying what needs it and how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from .errors import DependencyError

        raise DependencyError(install_message([(module.partition(".")[0], why)])) from exc


def install_message(missing: List[Tuple[str, str]], config=None) -> str:
    """One message naming what is missing, why, and how to get it (in QGIS and elsewhere)."""
    if not missing:
        return ""
    parts = ", ".join(f"{PIP_NAMES.get(m, m)} (for {why})" for m, why in missing)
    groups = []
    for module, _ in missing:
        label = group(GROUP_OF[module]).label if module in GROUP_OF else None
        if label and label not in groups:
            groups.append(label)
    pip = " ".join(dict.fromkeys(PIP_NAMES.get(m, m) for m, _ in missing))
    text = (f"Missing Python package(s) in the Python that runs QGIS: {parts}. In QGIS: {MENU_PATH}"
            + (f" and install '{' and '.join(groups)}'" if groups else "")
            + f". Elsewhere: `python -m pip install {pip}`.")
    if config is not None and any(m == "scipy" for m, _ in missing) and config.sampling_method == "class_balance":
        text += " Without them, SAMPLING_METHOD repeat_factor or sqrt_inverse_freq needs nothing more."
    if config is not None and any(m in ("torch", "transformers") for m, _ in missing):
        text += " Without them, use EMBEDDER descriptor (no model) or MODE masks_only."
    return text
