"""All settings of one balancing run, validated once before any work starts."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidParameterError

SAMPLING_METHODS = (
    "rank_max",
    "rank_multiply",
    "rank_add",
    "multiplicative",
    "composition_only",
    "uniqueness_only",
)


@dataclass(frozen=True)
class BalanceConfig:
    patch_size: int = 256
    stride: int = 0  # 0 = patch_size (no overlap)
    nodata: int | None = None  # explicit "no label" value; None = the mask band's own
    ignore_band_nodata: bool = False  # for masks that wrongly flag the background as nodata
    exclude_border_nodata: bool = True
    exclude_black_border: bool = True
    black_tolerance: float = 0.0
    min_entropy: float | None = None  # nats; None = no minimum
    max_nodata_ratio: float | None = None  # None = no maximum
    k_min: int = 4
    k_max: int = 16
    k: int = 0  # 0 = choose K by the elbow of the inertia curve
    seed: int = 42
    method: str = "composition_only"
    weight_floor: float = 1e-3  # every included patch gets at least this weight

    @property
    def effective_stride(self) -> int:
        return self.stride or self.patch_size

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
        if self.method not in SAMPLING_METHODS:
            raise InvalidParameterError(
                f"Unknown sampling method {self.method!r}; choose one of {', '.join(SAMPLING_METHODS)}."
            )
        if self.method != "composition_only":
            raise InvalidParameterError(
                f"Sampling method {self.method!r} needs visual uniqueness, which this version does not "
                "compute yet; use 'composition_only'."
            )
        if not 0 < self.weight_floor < 1:
            raise InvalidParameterError(f"Weight floor must be in (0, 1), got {self.weight_floor}.")
        return self
