"""Raster access behind one small interface, with two adapters that behave the same.

- `gdal`: GDAL's own Python bindings (`osgeo.gdal`). Inside QGIS this is QGIS's GDAL, on every OS:
  nothing beyond what QGIS ships, and never a second GDAL/PROJ in the QGIS process (pip's rasterio
  wheel bundles its own, a known crash source on Windows and macOS). The default wherever it imports.
- `rasterio`: for the engine outside QGIS where GDAL's bindings are missing; also tested, so both
  read the same windows, transforms, CRS, nodata, dtypes, band counts and decimated reads.

The engine only sees `open_dataset(path)` → a dataset with `name`, `width`, `height`, `count`,
`dtypes`, `nodatavals`, `nodata`, `crs_wkt`, `geotransform()` (a `Transform`, or None when the file
has none), `has_gcps_or_rpcs()`, `read(bands, window, out_shape=None, masked=False)` and `close()`,
plus `same_crs(wkt_a, wkt_b)` and `crs_label(wkt)`. A failed open or read raises `ReadFailure`
(the caller names the file and rows). Neither `affine` nor `rasterio` is needed by the `gdal` adapter.

Choose with `set_backend("gdal" | "rasterio")`, or the environment variable
`PATCH_BALANCER_RASTER_IO`; `available_backends()` lists the importable ones.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from collections import namedtuple
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np

BACKENDS = ("gdal", "rasterio")
ENV_VAR = "PATCH_BALANCER_RASTER_IO"


class ReadFailure(Exception):
    """A raster could not be opened or a block of it could not be read (the backend's own message)."""


class Window(NamedTuple):
    """A pixel window, as rasterio's: column and row offset, width and height."""

    col_off: int
    row_off: int
    width: int
    height: int


_TransformBase = namedtuple("_TransformBase", "a b c d e f")


class Transform(_TransformBase):
    """An affine pixel → map transform: x = c + a·col + b·row, y = f + d·col + e·row (affine.Affine's a..f).

    Equal to any object with the same a..f (an `affine.Affine` included), so code written for either fits.
    """

    __slots__ = ()

    @classmethod
    def from_gdal(cls, gt: Sequence[float]) -> "Transform":
        return cls(float(gt[1]), float(gt[2]), float(gt[0]), float(gt[4]), float(gt[5]), float(gt[3]))

    @classmethod
    def of(cls, other) -> "Transform":
        return cls(*(float(getattr(other, k)) for k in "abcdef"))

    @classmethod
    def identity(cls) -> "Transform":
        return cls(1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

    @property
    def is_identity(self) -> bool:
        return tuple(self) == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

    def to_gdal(self) -> tuple:
        return (self.c, self.a, self.b, self.f, self.d, self.e)

    def __eq__(self, other):
        try:
            return all(float(getattr(self, k)) == float(getattr(other, k)) for k in "abcdef")
        except (AttributeError, TypeError, ValueError):
            return NotImplemented

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self):
        return hash(tuple(self))


Bands = Union[int, Sequence[int], None]

# GDAL data type names → numpy dtype names (as rasterio reports them)
_GDAL_DTYPES = {
    "Byte": "uint8", "Int8": "int8", "UInt16": "uint16", "Int16": "int16", "UInt32": "uint32", "Int32": "int32",
    "UInt64": "uint64", "Int64": "int64", "Float32": "float32", "Float64": "float64",
    "CInt16": "complex64", "CInt32": "complex128", "CFloat32": "complex64", "CFloat64": "complex128",
}


# ---------------------------------------------------------------------------------------------------------------
# choosing the backend

_lock = threading.Lock()
_chosen: Optional[str] = None


def available_backends() -> list:
    return [name for name, module in (("gdal", "osgeo"), ("rasterio", "rasterio"))
            if importlib.util.find_spec(module) is not None and (name != "gdal" or _gdal_importable())]


def _gdal_importable() -> bool:
    try:
        from osgeo import gdal  # noqa: F401
    except ImportError:
        return False
    return True


def set_backend(name: Optional[str]) -> None:
    """Use this adapter from now on (None: back to the default)."""
    global _chosen
    if name is not None and name not in BACKENDS:
        raise ValueError(f"Unknown raster backend {name!r}; expected one of {', '.join(BACKENDS)}.")
    with _lock:
        _chosen = name


def backend_name() -> str:
    """The adapter in use: the one set, else $PATCH_BALANCER_RASTER_IO, else GDAL's bindings, else rasterio."""
    name = _chosen or os.environ.get(ENV_VAR, "").strip().lower() or None
    if name:
        if name not in BACKENDS:
            raise ValueError(f"{ENV_VAR}={name!r}: expected one of {', '.join(BACKENDS)}.")
        return name
    return "gdal" if _gdal_importable() else "rasterio"


def open_dataset(path: str):
    """Open a raster for reading with the adapter in use; `ReadFailure` if it cannot be opened."""
    name = backend_name()
    if name == "gdal":
        return GdalDataset(path)
    return RasterioDataset(path)


def same_crs(a: str, b: str) -> bool:
    """Whether two CRS definitions (WKT, '' for none) describe the same CRS."""
    if a == b:
        return True
    if not a or not b:
        return False
    if backend_name() == "gdal":
        from osgeo import osr

        with _GdalErrors():
            try:
                sa, sb = osr.SpatialReference(), osr.SpatialReference()
                if sa.ImportFromWkt(a) != 0 or sb.ImportFromWkt(b) != 0:
                    return False
                return bool(sa.IsSame(sb))
            except RuntimeError:
                return False
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        return CRS.from_wkt(a) == CRS.from_wkt(b)
    except CRSError:
        return False


def crs_label(wkt: str) -> str:
    """A short name for a CRS: 'EPSG:32631' where an authority code is known, else its name, else 'none'."""
    if not wkt:
        return "none"
    if backend_name() == "gdal":
        from osgeo import osr

        with _GdalErrors():
            try:
                srs = osr.SpatialReference()
                if srs.ImportFromWkt(wkt) == 0:
                    srs.AutoIdentifyEPSG()
                    authority, code = srs.GetAuthorityName(None), srs.GetAuthorityCode(None)
                    if authority and code:
                        return f"{authority}:{code}"
                    name = srs.GetName()
                    if name:
                        return name
            except RuntimeError:
                pass
        return wkt[:80]
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        return str(CRS.from_wkt(wkt))
    except CRSError:
        return wkt[:80]


def _band_list(bands: Bands, count: int) -> tuple:
    """(list of 1-based bands, whether the caller asked for one band as an int)."""
    if bands is None:
        return list(range(1, count + 1)), False
    if isinstance(bands, (int, np.integer)):
        return [int(bands)], True
    return [int(b) for b in bands], False


# ---------------------------------------------------------------------------------------------------------------
# GDAL's bindings (QGIS's own GDAL inside QGIS)

class _GdalErrors:
    """GDAL errors on this thread are collected quietly, whether or not `gdal.UseExceptions()` is on
    (another plugin may have switched it on for the whole process)."""

    def __enter__(self):
        from osgeo import gdal

        self.messages = []

        def handler(err_class, err_no, message):
            if err_class >= gdal.CE_Failure:
                self.messages.append(str(message))

        self._handler = handler
        gdal.ErrorReset()
        gdal.PushErrorHandler(handler)
        return self

    def __exit__(self, *exc):
        from osgeo import gdal

        gdal.PopErrorHandler()
        return False

    def message(self, default: str) -> str:
        return "; ".join(dict.fromkeys(self.messages)) or default


class GdalDataset:
    """A raster opened read-only through `osgeo.gdal`."""

    backend = "gdal"

    def __init__(self, path: str):
        from osgeo import gdal

        self.name = str(path)
        with _GdalErrors() as errors:
            try:
                ds = gdal.OpenEx(self.name, gdal.OF_RASTER | gdal.OF_READONLY)
            except RuntimeError as exc:
                raise ReadFailure(errors.message(str(exc))) from exc
        if ds is None:
            raise ReadFailure(errors.message(f"{self.name}: not recognized as a raster dataset"))
        self._ds = ds
        self.width, self.height, self.count = ds.RasterXSize, ds.RasterYSize, ds.RasterCount
        bands = [ds.GetRasterBand(i) for i in range(1, self.count + 1)]
        self.dtypes = tuple(self._dtype(b) for b in bands)
        self.nodatavals = tuple(b.GetNoDataValue() for b in bands)
        self.block_height = bands[0].GetBlockSize()[1] if bands else 1
        with _GdalErrors():
            self.crs_wkt = ds.GetProjectionRef() or ""

    def drop_cached_blocks(self) -> None:
        """Free the blocks GDAL keeps of this raster: a pass that never reads them again would otherwise keep a
        whole raster decoded in the block cache (up to GDAL_CACHEMAX, 5 % of RAM) until it is closed."""
        self._ds.FlushCache()

    @staticmethod
    def _dtype(band) -> str:
        from osgeo import gdal

        name = _GDAL_DTYPES.get(gdal.GetDataTypeName(band.DataType), "float64")
        if name == "uint8" and band.GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE") == "SIGNEDBYTE":
            return "int8"  # GDAL < 3.7's signed bytes, as rasterio reports them
        return name

    @property
    def nodata(self):
        return self.nodatavals[0] if self.nodatavals else None

    def geotransform(self) -> Optional[Transform]:
        gt = self._ds.GetGeoTransform(can_return_null=True)
        return Transform.from_gdal(gt) if gt is not None else None

    def has_gcps_or_rpcs(self) -> bool:
        return self._ds.GetGCPCount() > 0 or bool(self._ds.GetMetadata("RPC"))

    def read(self, bands: Bands, window: Window, out_shape=None, masked: bool = False) -> np.ndarray:
        """(bands, rows, cols) for a list of bands, (rows, cols) for one band given as an int; `out_shape`
        (…, rows, cols) reads decimated with nearest neighbour (overviews used where the file has them)."""
        from osgeo import gdal

        numbers, single = _band_list(bands, self.count)
        col, row, width, height = (int(v) for v in window)
        buf_rows, buf_cols = (int(out_shape[-2]), int(out_shape[-1])) if out_shape is not None else (height, width)
        decimated = dict(buf_xsize=buf_cols, buf_ysize=buf_rows,
                         resample_alg=gdal.GRIORA_NearestNeighbour) if out_shape is not None else {}
        arrays, holes = [], []
        with _GdalErrors() as errors:
            try:
                if len(numbers) > 1 and not masked and not decimated and "int8" not in self.dtypes:
                    # all bands in one request: a pixel-interleaved file decodes each block once, with no
                    # block cache holding the other bands of a whole strip until they are asked for
                    data = self._ds.ReadAsArray(col, row, width, height, band_list=numbers)
                    if data is None or errors.messages:
                        raise ReadFailure(errors.message(f"cannot read bands {numbers}"))
                    return data
                for n in numbers:
                    band = self._ds.GetRasterBand(n)
                    data = band.ReadAsArray(col, row, width, height, **decimated)
                    if data is None:
                        raise ReadFailure(errors.message(f"cannot read band {n}"))
                    if errors.messages:  # some drivers fill a damaged block with zeros and only report it
                        raise ReadFailure(errors.message(f"cannot read band {n}"))
                    if self.dtypes[n - 1] == "int8" and data.dtype == np.uint8:
                        data = data.view(np.int8)
                    arrays.append(data)
                    if masked:
                        valid = band.GetMaskBand().ReadAsArray(col, row, width, height, **decimated)
                        if valid is None or errors.messages:
                            raise ReadFailure(errors.message(f"cannot read the mask of band {n}"))
                        holes.append(valid == 0)
            except RuntimeError as exc:
                raise ReadFailure(errors.message(str(exc))) from exc
        out = np.stack(arrays) if arrays else np.zeros((0, buf_rows, buf_cols), dtype=np.uint8)
        if masked:
            out = np.ma.MaskedArray(out, mask=np.stack(holes) if holes else False)
        return out[0] if single else out

    def close(self) -> None:
        self._ds = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------------------------------------------------------
# rasterio (the engine outside QGIS, where GDAL's own bindings are missing)

class RasterioDataset:
    """A raster opened read-only through rasterio."""

    backend = "rasterio"

    def __init__(self, path: str):
        import warnings

        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError

        self._errors = (RasterioError, RasterioIOError)  # RasterioIOError is an OSError, not a RasterioError
        self.name = str(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NotGeoreferencedWarning)
            try:
                ds = rasterio.open(self.name)
            except self._errors as exc:
                raise ReadFailure(str(exc)) from exc
        # rasterio reports a missing geotransform only as a warning (and an identity transform)
        self._no_geotransform = any(issubclass(w.category, NotGeoreferencedWarning) for w in caught)
        self._ds = ds
        self.width, self.height, self.count = ds.width, ds.height, ds.count
        self.dtypes = tuple(ds.dtypes)
        self.nodatavals = tuple(ds.nodatavals)
        self.block_height = ds.block_shapes[0][0] if ds.count else 1
        self.crs_wkt = ds.crs.to_wkt() if ds.crs else ""

    def drop_cached_blocks(self) -> None:
        """rasterio has no call for it: its blocks go when the raster is closed."""

    @property
    def nodata(self):
        return self.nodatavals[0] if self.nodatavals else None

    def geotransform(self) -> Optional[Transform]:
        transform = Transform.of(self._ds.transform)
        if transform.is_identity and (self._no_geotransform or self.has_gcps_or_rpcs()):
            return None
        return transform

    def has_gcps_or_rpcs(self) -> bool:
        gcps, _ = self._ds.gcps
        return bool(gcps) or bool(getattr(self._ds, "rpcs", None))

    def read(self, bands: Bands, window: Window, out_shape=None, masked: bool = False) -> np.ndarray:
        from rasterio.enums import Resampling
        from rasterio.windows import Window as RioWindow

        numbers, single = _band_list(bands, self.count)
        kwargs = {}
        if out_shape is not None:
            kwargs = dict(out_shape=(len(numbers), int(out_shape[-2]), int(out_shape[-1])),
                          resampling=Resampling.nearest)
        try:
            out = self._ds.read(numbers, window=RioWindow(*(int(v) for v in window)), masked=masked, **kwargs)
        except self._errors as exc:
            raise ReadFailure(str(exc)) from exc
        return out[0] if single else out

    def close(self) -> None:
        self._ds.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
