"""The two raster_io adapters (GDAL's own bindings, used inside QGIS, and rasterio) read the same things."""
import os

import numpy as np
import pytest

from balance_core import raster_io
from balance_core.raster_io import GdalDataset, RasterioDataset, ReadFailure, Transform, Window

ADAPTERS = [GdalDataset, RasterioDataset]


@pytest.fixture
def rgb16(write_raster):
    rng = np.random.default_rng(3)
    array = rng.integers(0, 4000, size=(3, 300, 260), dtype=np.uint16)
    array[:, :20, :20] = 0
    return write_raster("rgb16.tif", array, nodata=0, pixel=0.5)


def both(path):
    return [adapter(path) for adapter in ADAPTERS]


def test_headers_match(rgb16):
    g, r = both(rgb16)
    for attr in ("width", "height", "count", "dtypes", "nodatavals", "nodata"):
        assert getattr(g, attr) == getattr(r, attr), attr
    assert g.geotransform() == r.geotransform() == Transform(0.5, 0.0, 500000.0, 0.0, -0.5, 4500000.0)
    assert raster_io.same_crs(g.crs_wkt, r.crs_wkt)
    assert not g.has_gcps_or_rpcs() and not r.has_gcps_or_rpcs()


@pytest.mark.parametrize("bands", [1, [1], [3, 1], None])
def test_windows_match(rgb16, bands):
    g, r = both(rgb16)
    window = Window(17, 33, 101, 64)
    a, b = g.read(bands, window), r.read(bands, window)
    assert a.dtype == b.dtype == np.uint16 and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def test_decimated_masked_reads_match_with_overviews(rgb16, tmp_path):
    from osgeo import gdal

    copy = str(tmp_path / "with_overviews.tif")
    gdal.Translate(copy, rgb16)
    ds = gdal.Open(copy, gdal.GA_Update)
    ds.BuildOverviews("NEAREST", [2, 4])
    ds = None
    for path in (rgb16, copy):
        g, r = both(path)
        a = g.read([1, 2], Window(0, 0, g.width, g.height), out_shape=(2, 75, 65), masked=True)
        b = r.read([1, 2], Window(0, 0, r.width, r.height), out_shape=(2, 75, 65), masked=True)
        assert a.shape == b.shape == (2, 75, 65)
        np.testing.assert_array_equal(a.mask, b.mask)
        np.testing.assert_array_equal(a.compressed(), b.compressed())
        assert a.mask.any()  # the nodata corner


def test_int8_float_and_nan_nodata(write_raster):
    signed = write_raster("signed.tif", np.arange(-50, 50, dtype=np.int8).reshape(10, 10))
    floats = write_raster("float.tif", np.full((2, 8, 8), np.nan, dtype=np.float32), nodata=float("nan"))
    for path in (signed, floats):
        g, r = both(path)
        assert g.dtypes == r.dtypes
        assert str(g.nodata) == str(r.nodata)
        np.testing.assert_array_equal(g.read(None, Window(0, 0, 8, 8)), r.read(None, Window(0, 0, 8, 8)))


def test_missing_geotransform_and_gcps(write_raster, tmp_path):
    from osgeo import gdal

    bare = str(tmp_path / "bare.tif")
    gdal.GetDriverByName("GTiff").Create(bare, 16, 16, 1, gdal.GDT_Byte)
    identity = write_raster("identity.tif", np.ones((16, 16), np.uint8), transform=Transform.identity())
    gcp = str(tmp_path / "gcp.tif")
    ds = gdal.GetDriverByName("GTiff").Create(gcp, 16, 16, 1, gdal.GDT_Byte)
    ds.SetGCPs([gdal.GCP(500000.0, 4500000.0, 0, 0.5, 0.5), gdal.GCP(500016.0, 4500000.0, 0, 16.5, 0.5),
                gdal.GCP(500000.0, 4499984.0, 0, 0.5, 16.5)], ds.GetProjectionRef())
    ds = None
    for adapter in ADAPTERS:
        assert adapter(bare).geotransform() is None, adapter
        assert adapter(identity).geotransform() == Transform.identity(), adapter
        assert adapter(gcp).geotransform() is None and adapter(gcp).has_gcps_or_rpcs(), adapter


def test_crs_compare_ignores_the_wkt_flavour():
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    wkt1, wkt2 = srs.ExportToWkt(), srs.ExportToWkt(["FORMAT=WKT2_2018"])
    other = osr.SpatialReference()
    other.ImportFromEPSG(4326)
    for backend in raster_io.available_backends():
        raster_io.set_backend(backend)
        try:
            assert raster_io.same_crs(wkt1, wkt2), backend
            assert not raster_io.same_crs(wkt1, other.ExportToWkt()), backend
            assert not raster_io.same_crs(wkt1, "")
            assert raster_io.crs_label(wkt1) == "EPSG:32631", backend
        finally:
            raster_io.set_backend(None)


def test_unreadable_and_truncated_files_raise_read_failure(rgb16, tmp_path):
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a raster")
    big = np.random.default_rng(0).integers(0, 255, size=(1, 512, 512), dtype=np.uint8)
    from osgeo import gdal

    path = str(tmp_path / "cut.tif")
    gdal.GetDriverByName("GTiff").Create(path, 512, 512, 1, gdal.GDT_Byte, ["COMPRESS=DEFLATE"]).WriteArray(big[0])
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    for adapter in ADAPTERS:
        with pytest.raises(ReadFailure):
            adapter(str(junk))
        with pytest.raises(ReadFailure):
            adapter(str(tmp_path / "missing.tif"))
        with pytest.raises(ReadFailure):
            adapter(path).read(1, Window(0, 0, 512, 512))


def test_gdal_adapter_works_whatever_the_exception_mode(rgb16, tmp_path):
    """Another plugin may switch GDAL's exceptions on for the whole process (or off): the adapter behaves the same."""
    from osgeo import gdal

    before = gdal.GetUseExceptions()
    try:
        for on in (True, False):
            gdal.UseExceptions() if on else gdal.DontUseExceptions()
            assert GdalDataset(rgb16).read(1, Window(0, 0, 4, 4)).shape == (4, 4)
            with pytest.raises(ReadFailure):
                GdalDataset(str(tmp_path / "missing.tif"))
    finally:
        gdal.UseExceptions() if before else gdal.DontUseExceptions()


def test_transform_equals_affine():
    affine = pytest.importorskip("affine")
    assert Transform(2.0, 0.0, 10.0, 0.0, -2.0, 20.0) == affine.Affine(2.0, 0.0, 10.0, 0.0, -2.0, 20.0)
    assert Transform.of(affine.Affine.identity()).is_identity
    assert Transform(2.0, 0.0, 10.0, 0.0, -2.0, 20.0) != affine.Affine(1.0, 0.0, 10.0, 0.0, -2.0, 20.0)


def test_default_backend_is_gdal_when_its_bindings_import(monkeypatch):
    monkeypatch.delenv(raster_io.ENV_VAR, raising=False)
    assert raster_io.backend_name() == "gdal"
    monkeypatch.setenv(raster_io.ENV_VAR, "rasterio")
    assert raster_io.backend_name() == "rasterio"
