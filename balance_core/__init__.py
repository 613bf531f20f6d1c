"""Patch Balancer engine: pure Python + numpy and GDAL (raster_io), optional scipy/scikit-learn/torch, no QGIS or Qt.

Entry point: `build_balanced_dataset([(image_path, mask_path), ...], BalanceConfig(...))`.
"""
from .config import SAMPLING_METHODS, BalanceConfig
from .errors import BalanceError, CancelledError
from .pipeline import build_balanced_dataset

__all__ = ["SAMPLING_METHODS", "BalanceConfig", "BalanceError", "CancelledError", "build_balanced_dataset"]
