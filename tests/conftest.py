"""Shared fixtures; prints the versions the tests ran against in the report header."""
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"


def pytest_report_header(config):
    lines = []
    try:
        import rasterio
        import sklearn

        lines.append(f"rasterio {rasterio.__version__} (GDAL {rasterio.__gdal_version__}), "
                     f"numpy {np.__version__}, scikit-learn {sklearn.__version__}")
    except ImportError as exc:  # pragma: no cover - shown, not hidden
        lines.append(f"engine dependency missing: {exc}")
    try:
        from qgis.core import Qgis
        from qgis.PyQt.QtCore import QT_VERSION_STR

        lines.append(f"QGIS {Qgis.QGIS_VERSION}, Qt {QT_VERSION_STR}")
    except ImportError:
        lines.append("QGIS not importable: only engine tests can run")
    return lines


@pytest.fixture(params=["gdal", "rasterio"])
def raster_backend(request):
    """Runs a test once per raster_io adapter: GDAL's own bindings (what the plugin uses in QGIS) and rasterio.
    Modules that read rasters use it with `pytestmark = pytest.mark.usefixtures("raster_backend")`."""
    from balance_core import raster_io

    if request.param not in raster_io.available_backends():
        pytest.skip(f"raster backend {request.param} is not importable here")
    raster_io.set_backend(request.param)
    yield request.param
    raster_io.set_backend(None)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture
def write_raster(tmp_path):
    """Write a GeoTIFF: (bands, rows, cols) or (rows, cols) array, north-up, EPSG:32631 by default."""
    import rasterio
    from rasterio.transform import from_origin

    def write(name, array, *, nodata=None, crs="EPSG:32631", origin=(500000.0, 4500000.0), pixel=1.0,
              transform=None):
        array = np.asarray(array)
        if array.ndim == 2:
            array = array[None]
        path = tmp_path / name
        profile = dict(
            driver="GTiff", width=array.shape[2], height=array.shape[1], count=array.shape[0],
            dtype=array.dtype, crs=crs, transform=transform or from_origin(origin[0], origin[1], pixel, pixel),
        )
        if nodata is not None:
            profile["nodata"] = nodata
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(array)
        return str(path)

    return write


@pytest.fixture
def scene(write_raster):
    """A 64×64 scene: background 0, a building class 1 block, a rare class 2 blob; grey RGB image."""
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[0:16, 0:16] = 1
    mask[40:44, 40:44] = 2
    image = np.full((3, 64, 64), 120, dtype=np.uint8)
    return write_raster("image.tif", image), write_raster("mask.tif", mask), mask


@pytest.fixture(scope="session")
def tiny_dinov2(tmp_path_factory) -> str:
    """A randomly initialised DINOv2 with tiny dimensions, saved like a downloaded model.

    Pretrained weights cannot be downloaded here; this folder goes through the same
    `from_pretrained` call a user's model id or local folder does.
    """
    import torch
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          patch_size=14, image_size=224)
    folder = tmp_path_factory.mktemp("tiny-dinov2")
    Dinov2Model(config).eval().save_pretrained(folder, safe_serialization=True)
    return str(folder)


@pytest.fixture
def lyon_tiles(tmp_path, data_dir):
    """The Lyon scene cut into four 384 px tiles: images/tile_R_C_rgb.tif and masks/tile_R_C_mask.tif."""
    import rasterio
    from rasterio.windows import Window

    folders = {"image": tmp_path / "images", "mask": tmp_path / "masks"}
    for folder in folders.values():
        folder.mkdir()
    for role, source, suffix in (("image", "image_rgb.tif", "rgb"), ("mask", "labels.tif", "mask")):
        with rasterio.open(data_dir / "lyon" / source) as src:
            for r in range(2):
                for c in range(2):
                    window = Window(c * 384, r * 384, 384, 384)
                    profile = dict(src.profile, width=384, height=384, transform=src.window_transform(window))
                    profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
                    with rasterio.open(folders[role] / f"tile_{r}_{c}_{suffix}.tif", "w", **profile) as dst:
                        dst.write(src.read(window=window))
    return folders["image"], folders["mask"]
