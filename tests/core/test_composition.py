import numpy as np
import pytest

from balance_core.composition import border_hits, count_classes, measure_composition
from balance_core.config import BalanceConfig
from balance_core.errors import CancelledError
from balance_core.grid import make_grid
from balance_core.progress import NullProgress
from balance_core.rasters import open_pair

pytestmark = pytest.mark.usefixtures("raster_backend")  # every test over both raster_io adapters


def measure(image, mask, progress=None, **settings):
    config = BalanceConfig(**settings)
    pair = open_pair(image, mask)
    table = make_grid(pair.width, pair.height, config.patch_size, config.effective_stride)
    return measure_composition(table, pair, config, progress or NullProgress())


def naive(mask, row, col, size, nodata):
    """The reference's way, per patch: np.unique over the window."""
    window = mask[row:row + size, col:col + size]
    labelled = window[window != nodata] if nodata is not None else window.ravel()
    values, counts = np.unique(labelled, return_counts=True)
    return dict(zip(values.tolist(), (counts / counts.sum()).tolist())), 1 - labelled.size / window.size


@pytest.mark.parametrize("stride", [16, 10, 7])
def test_streamed_counts_equal_per_patch_unique(write_raster, stride):
    rng = np.random.default_rng(1)
    mask = rng.choice([0, 1, 2, 5, 255], size=(70, 90), p=[0.8, 0.1, 0.04, 0.01, 0.05]).astype(np.uint8)
    image = write_raster("img.tif", np.full((3, 70, 90), 50, np.uint8))
    table = measure(image, write_raster("m.tif", mask, nodata=255), patch_size=16, stride=stride)
    fractions = table.fractions()
    assert table.class_values.tolist() == [0, 1, 2, 5]
    for i in range(len(table)):
        expected, nodata_ratio = naive(mask, table["row_off"][i], table["col_off"][i], 16, 255)
        got = {int(v): f for v, f in zip(table.class_values, fractions[i]) if f > 0}
        assert got.keys() == expected.keys()
        np.testing.assert_allclose([got[k] for k in expected], list(expected.values()))
        assert table["nodata_ratio"][i] == pytest.approx(nodata_ratio)


def test_entropy_in_nats_and_class_zero_is_a_class(scene):
    image, mask, _ = scene
    table = measure(image, mask, patch_size=16)
    assert table.class_values.tolist() == [0, 1, 2]
    first = table.fractions()[0]
    assert first.tolist() == [0.0, 1.0, 0.0] and table["class_entropy"][0] == 0.0
    blob = np.flatnonzero(table.fractions()[:, 2] > 0)[0]  # 4×4 of class 2 in a 16×16 patch
    p = np.array([15 / 16, 1 / 16])
    assert table["class_entropy"][blob] == pytest.approx(-(p * np.log(p)).sum())


def test_band_nodata_is_used_by_default_and_can_be_ignored_or_overridden(write_raster):
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :8] = 9
    image = write_raster("i.tif", np.full((3, 32, 32), 1, np.uint8))
    path = write_raster("m.tif", mask, nodata=9)
    by_band = measure(image, path, patch_size=32)
    assert by_band.class_values.tolist() == [0] and by_band["nodata_ratio"][0] == 0.25
    ignored = measure(image, path, patch_size=32, ignore_band_nodata=True)
    assert ignored.class_values.tolist() == [0, 9] and ignored["nodata_ratio"][0] == 0.0
    explicit = measure(image, path, patch_size=32, nodata=0)
    assert explicit.class_values.tolist() == [9] and explicit["nodata_ratio"][0] == 0.75


def test_warns_when_nodata_is_the_most_frequent_value(data_dir):
    progress = NullProgress()
    measure(str(data_dir / "quebec/tiled_image_1.tif"), str(data_dir / "quebec/tiled_label_1.tif"),
            progress, patch_size=64)
    assert any("nodata value 0 is its most frequent value" in w for w in progress.warnings)
    quiet = NullProgress()
    measure(str(data_dir / "quebec/tiled_image_1.tif"), str(data_dir / "quebec/tiled_label_1.tif"),
            quiet, patch_size=64, ignore_band_nodata=True)
    assert quiet.warnings == []


def test_border_measurements(write_raster):
    mask = np.ones((32, 32), np.uint8)
    mask[0, 3] = 0  # nodata on the top border of patch (0, 0)
    mask[20, 20] = 0  # nodata inside patch (16, 16), not on its border
    image = np.full((3, 32, 32), 90, np.uint8)
    image[:, 31, 5] = 0  # black on the bottom border of patch (16, 0)
    image[:2, 8, 16] = 0  # dark in two bands only: not black
    table = measure(write_raster("i.tif", image), write_raster("m.tif", mask, nodata=0), patch_size=16)
    assert table["border_nodata"].tolist() == [True, False, False, False]
    assert table["border_black"].tolist() == [False, False, True, False]


def test_border_hits_sees_left_and_right_columns():
    flag = np.zeros((4, 12), bool)
    flag[2, 4] = True  # left column of window [4, 8), right column of window [1, 5)
    hits = border_hits(flag, np.array([0, 4, 8, 1]), 4)
    assert hits.tolist() == [False, True, False, True]


def test_count_classes_discovers_new_values_only_when_pixels_are_left_over():
    strip = np.array([[0, 70000, 9], [5, 5, 9]], dtype=np.int32)
    known, counts = count_classes(strip, np.array([5]), 9, np.array([0, 0, 2]))
    assert known.tolist() == [5, 0, 70000]  # 9 is nodata: never a class
    assert counts.tolist() == [[1, 1, 0], [1, 0, 1], [0, 0, 0]]
    again, _ = count_classes(strip[1:], known, 9, np.array([0, 0, 1]))
    assert again.tolist() == [5, 0, 70000]
    negative, _ = count_classes(np.array([[-3, 2]], dtype=np.int16), np.zeros(0, np.int64), None, np.zeros(2, np.int64))
    assert sorted(negative.tolist()) == [-3, 2]


def test_cancel_stops_within_one_strip(scene):
    image, mask, _ = scene

    class CancelAfterFirstStrip(NullProgress):
        calls = 0

        def cancelled(self):
            self.calls += 1
            return self.calls > 1

    progress = CancelAfterFirstStrip()
    with pytest.raises(CancelledError):
        measure(image, mask, progress, patch_size=16)
    assert progress.calls == 2


def brute_edges(flag, row, col, size):
    window = flag[row:row + size, col:col + size]
    return (window[0].any() * 1 + window[-1].any() * 2 + window[:, 0].any() * 4 + window[:, -1].any() * 8)


@pytest.mark.parametrize("dtype, nodata, stride", [(np.uint8, 255, 12), (np.int16, -1, 12), (np.uint16, None, 9)])
def test_pure_and_mixed_columns_count_like_a_pixel_by_pixel_pass(write_raster, dtype, nodata, stride):
    """Blocky labels (most strip columns hold one value: counted without a per-pixel pass) give exactly the
    counts, nodata ratios and border flags of a pixel-by-pixel count, also when a class first appears in a
    one-value column, a value appears only in later strips, and black pixels sit on some window borders."""
    rng = np.random.default_rng(3)
    mask = np.zeros((60, 84), dtype=dtype)
    mask[:, 30:41] = 7  # a class met first in columns of one value
    mask[5:9, :] = 2
    mask[40:, 60:] = 300 if dtype != np.uint8 else 200  # a value only in later strips
    if nodata is not None:
        mask[:13, :20] = nodata  # whole nodata columns in the first strip
        mask[50, 3] = nodata
    mask[rng.integers(0, 60, 40), rng.integers(0, 84, 40)] = 5
    image = np.full((3, 60, 84), 90, np.uint8)
    image[:, :, :7] = 0  # a black collar
    image[:, 30, 50] = 0
    image[:2, 12, 44] = 0  # dark in two bands only
    table = measure(write_raster("i.tif", image), write_raster("m.tif", mask, nodata=nodata), patch_size=12,
                    stride=stride)
    black = np.all(image == 0, axis=0)
    is_nodata = mask == nodata if nodata is not None else np.zeros(mask.shape, bool)
    for i in range(len(table)):
        row, col = int(table["row_off"][i]), int(table["col_off"][i])
        window = mask[row:row + 12, col:col + 12]
        expected = {int(v): int((window == v).sum()) for v in np.unique(window) if v != nodata}
        got = {int(v): int(c) for v, c in zip(table.class_values, table.class_counts[i]) if c}
        assert got == expected, (row, col)
        assert table["nodata_ratio"][i] == is_nodata[row:row + 12, col:col + 12].mean()
        assert table["border_nodata_edges"][i] == brute_edges(is_nodata, row, col, 12)
        assert table["border_black_edges"][i] == brute_edges(black, row, col, 12)
