"""All settings of one balancing run, validated once before any work starts."""
from __future__ import annotations

import os
from dataclasses import dataclass

from .calibration import parse_target
from .errors import InvalidParameterError


def cpu_count() -> int:
    """CPU cores this process may run on (a container's or `taskset`'s limit, not the machine's)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # Windows, macOS
        return max(os.cpu_count() or 1, 1)

SAMPLING_METHODS = (
    "rank_max",
    "rank_multiply",
    "rank_add",
    "multiplicative",
    "composition_only",
    "uniqueness_only",
    "class_balance",  # the default with composition: weights calibrated to a target class distribution
    "repeat_factor",  # LVIS / detectron2 repeat-factor sampling, for comparison
    "sqrt_inverse_freq",  # Σ_c √(p_ic / f_c), for comparison
)
MODES = ("masks_only", "embeddings_only", "both")
KNN_BACKENDS = ("auto", "hnsw", "exact", "sklearn", "faiss")
PRECISIONS = ("auto", "fp32", "bf16")

# Which signals each method combines, and so which modes can serve it.
_NEEDS = {
    "rank_max": {"composition", "uniqueness"},
    "rank_multiply": {"composition", "uniqueness"},
    "rank_add": {"composition", "uniqueness"},
    "multiplicative": {"composition", "uniqueness"},
    "composition_only": {"composition"},
    "uniqueness_only": {"uniqueness"},
    "class_balance": {"composition"},  # uniqueness, when computed, decides which patches carry a class's share
    "repeat_factor": {"composition"},
    "sqrt_inverse_freq": {"composition"},
}
_COMPUTES = {
    "masks_only": {"composition"},
    "embeddings_only": {"uniqueness"},
    "both": {"composition", "uniqueness"},
}
_DEFAULT_METHOD = {"masks_only": "class_balance", "embeddings_only": "uniqueness_only", "both": "class_balance"}
CLASS_BALANCE_CAP = 5.0  # class_balance's cap when none is given: a patch drawn at most 5× as often as average


def needed_signals(method: str) -> frozenset[str]:
    """The signals ("composition", "uniqueness") a sampling method combines."""
    return frozenset(_NEEDS[method])


@dataclass(frozen=True)
class BalanceConfig:
    patch_size: int = 256
    stride: int = 0  # 0 = patch_size (no overlap)
    nodata: int | None = None  # explicit "no label" value; None = the mask band's own
    ignore_band_nodata: bool = False  # for masks that wrongly flag the background as nodata
    exclude_border_nodata: bool = True
    exclude_black_border: bool = True
    black_tolerance: float = 0.0
    exclude_image_nodata: bool = True  # NaN / the image band's nodata value anywhere in the patch
    min_entropy: float | None = None  # nats; None = no minimum
    max_nodata_ratio: float | None = None  # None = no maximum
    k_min: int = 4
    k_max: int = 16
    k: int = 0  # 0 = choose K by the elbow of the inertia curve
    seed: int = 42
    mode: str = "masks_only"
    method: str = ""  # "" = the mode's default (rank_max when both signals are computed)
    weight_floor: float = 1e-3  # every included patch gets at least this weight
    max_oversampling: float | None = None  # cap: no patch drawn more than this × the mean; None = no cap (5 for class_balance)
    target: str = "uniform"  # class_balance: "uniform", "sqrt" or per-class shares "1:0.3,2:0.2"
    balance_strength: float = 1.0  # class_balance: 0 = raw shares … 1 = the target
    rfs_threshold: float = 0.3  # repeat_factor: classes in more than this fraction of patches are not repeated
    # Visual uniqueness (modes embeddings_only and both)
    embedder: str = "dinov2-small"  # alias, Hugging Face model id, local model folder, or "descriptor"
    bands: tuple[int, ...] = ()  # 1-based image bands; () = the first three (or band 1 repeated)
    batch_size: int = 32
    device: str = "auto"  # auto = CUDA when available, else CPU
    precision: str = "auto"  # auto = bf16 where the device computes it natively, else fp32
    k_neighbors: int = 5
    knn_backend: str = "auto"
    embeddings_cache: str | None = None  # Parquet file; None = no cache
    # Embeddings computed elsewhere (Parquet: the reference's cache layout or ours), used instead of any model;
    # matched by image path + window, never by row position (external_embeddings.py)
    external_embeddings: str | None = None
    # Address of a Dask scheduler (tcp://host:8786): the per-raster stages then run as tasks on that cluster
    # (dask_run.py); None = on this machine.
    scheduler: str | None = None
    workers: int = 0  # threads for the per-raster stages (one raster pair or band of strips each); 0 = one per core

    @property
    def thread_count(self) -> int:
        """Threads for the per-raster stages: `workers`, or one per CPU core this process may use."""
        return self.workers or cpu_count()

    @property
    def effective_stride(self) -> int:
        return self.stride or self.patch_size

    @property
    def sampling_method(self) -> str:
        return self.method or _DEFAULT_METHOD.get(self.mode, "composition_only")

    @property
    def oversampling_cap(self) -> float | None:
        """The cap in force: the one given, else 5 for class_balance (its targets need room), else none."""
        if self.max_oversampling is not None:
            return self.max_oversampling
        return CLASS_BALANCE_CAP if self.sampling_method == "class_balance" else None

    @property
    def needs_clusters(self) -> bool:
        return "composition" in _COMPUTES[self.mode]

    @property
    def needs_uniqueness(self) -> bool:
        return "uniqueness" in _COMPUTES[self.mode]

    def validate(self) -> "BalanceConfig":
        if self.patch_size < 1:
            raise InvalidParameterError(f"Patch size must be at least 1 pixel, got {self.patch_size}.")
        if self.stride < 0:
            raise InvalidParameterError(f"Stride must be 0 (= patch size) or positive, got {self.stride}.")
        if self.black_tolerance < 0:
            raise InvalidParameterError(f"Black tolerance must be ≥ 0, got {self.black_tolerance}.")
        if self.min_entropy is not None and self.min_entropy < 0:
            raise InvalidParameterError(f"Minimum entropy must be ≥ 0 nats, got {self.min_entropy}.")
        if self.max_nodata_ratio is not None and not 0 <= self.max_nodata_ratio <= 1:
            raise InvalidParameterError(
                f"Maximum nodata ratio must be between 0 and 1, got {self.max_nodata_ratio}."
            )
        if self.k_min < 1 or self.k_max < self.k_min:
            raise InvalidParameterError(
                f"Cluster range must satisfy 1 ≤ K min ≤ K max, got K min {self.k_min}, K max {self.k_max}."
            )
        if self.k < 0:
            raise InvalidParameterError(f"K must be 0 (elbow) or positive, got {self.k}.")
        if not 0 <= self.seed < 2**32:  # numpy's and scikit-learn's range
            raise InvalidParameterError(f"The random seed must be a whole number from 0 to 4294967295, got {self.seed}.")
        if self.mode not in MODES:
            raise InvalidParameterError(f"Unknown mode {self.mode!r}; choose one of {', '.join(MODES)}.")
        method = self.sampling_method
        if method not in SAMPLING_METHODS:
            raise InvalidParameterError(
                f"Unknown sampling method {method!r}; choose one of {', '.join(SAMPLING_METHODS)}."
            )
        missing = _NEEDS[method] - _COMPUTES[self.mode]
        if missing:
            signal = "visual uniqueness (image embeddings)" if "uniqueness" in missing else "class composition"
            fitting = [m for m in MODES if _NEEDS[method] <= _COMPUTES[m]]
            raise InvalidParameterError(
                f"Sampling method {method!r} needs {signal}, which mode {self.mode!r} does not compute; "
                f"use mode {' or '.join(repr(m) for m in fitting)}, or another sampling method."
            )
        if self.workers < 0:
            raise InvalidParameterError(f"The number of workers must be 0 (one per CPU core) or more, got {self.workers}.")
        if self.batch_size < 1:
            raise InvalidParameterError(f"Batch size must be at least 1, got {self.batch_size}.")
        if self.k_neighbors < 1:
            raise InvalidParameterError(f"Number of neighbours must be at least 1, got {self.k_neighbors}.")
        if self.knn_backend not in KNN_BACKENDS:
            raise InvalidParameterError(
                f"Unknown kNN backend {self.knn_backend!r}; choose one of {', '.join(KNN_BACKENDS)}."
            )
        if self.precision not in PRECISIONS:
            raise InvalidParameterError(
                f"Unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}."
            )
        if len(self.bands) not in (0, 1, 3) or any(b < 1 for b in self.bands):
            raise InvalidParameterError(
                f"Bands must be one band (repeated as grey) or three 1-based band numbers, got {list(self.bands)}."
            )
        if self.needs_uniqueness and not self.external_embeddings and not self.embedder.strip():
            raise InvalidParameterError("Choose an embedder: dinov2-small, dinov2-base, dinov2-large, "
                                        "descriptor, a Hugging Face model id or a local model folder.")
        if self.max_oversampling is not None and self.max_oversampling < 1:
            raise InvalidParameterError(
                f"The oversampling cap must be at least 1 (1 = every usable patch equally often), "
                f"got {self.max_oversampling}; leave it empty for no cap."
            )
        if not 0 <= self.balance_strength <= 1:
            raise InvalidParameterError(
                f"Balance strength must be between 0 (raw class shares) and 1 (the target), got {self.balance_strength}."
            )
        if not 0 < self.rfs_threshold <= 1:
            raise InvalidParameterError(f"The repeat-factor threshold must be in (0, 1], got {self.rfs_threshold}.")
        parse_target(self.target)  # a clear message for a target that cannot be read
        if not 0 < self.weight_floor < 1:
            raise InvalidParameterError(f"Weight floor must be in (0, 1), got {self.weight_floor}.")
        return self
