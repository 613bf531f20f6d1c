"""A grid too large for the sampler or the memory is refused before anything is built, with a size that fits."""
import re

import numpy as np
import pytest

from balance_core import dataset as dataset_module
from balance_core import grid as grid_module
from balance_core.config import BalanceConfig
from balance_core.dataset import dataset_grid, open_dataset
from balance_core.errors import InvalidParameterError
from balance_core.grid import SAMPLER_MAX_ROWS, check_grid_size, grid_patch_count, make_grid


@pytest.mark.parametrize("width, height, size, stride", [(70, 40, 20, 20), (100, 100, 32, 16), (33, 31, 8, 3),
                                                         (10, 10, 11, 1), (64, 64, 64, 1), (1000, 7, 7, 5)])
def test_the_count_is_the_grid_length(width, height, size, stride):
    expected = len(make_grid(width, height, size, stride)) if size <= min(width, height) else 0
    assert grid_patch_count(width, height, size, stride) == expected


def _numbers(message):
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", message)]


def test_more_rows_than_the_sampler_takes_is_refused_with_a_stride_that_fits():
    sizes = [(8192, 8192)]
    with pytest.raises(InvalidParameterError) as info:
        check_grid_size(sizes, 16, 1, memory=None)
    message = str(info.value)
    assert f"{8177 ** 2:,} patches" in message and "2^24" in message
    stride = int(re.search(r"stride of at least (\d+) px", message).group(1))
    assert sum(grid_patch_count(w, h, 16, stride) for w, h in sizes) <= SAMPLER_MAX_ROWS
    assert sum(grid_patch_count(w, h, 16, stride - 1) for w, h in sizes) > SAMPLER_MAX_ROWS


def test_a_grid_beyond_the_memory_names_a_patch_size_and_a_stride_that_fit():
    sizes = [(1000, 1000), (500, 800)]
    memory = grid_module.GRID_BYTES_PER_PATCH * 1000  # room for 1000 patches
    with pytest.raises(InvalidParameterError, match="GB in memory") as info:
        check_grid_size(sizes, 16, 0, memory=memory)
    message = str(info.value)
    size = int(re.search(r"patch size of at least (\d+) px", message).group(1))
    stride = int(re.search(r"stride of at least (\d+) px", message).group(1))
    count = lambda p, s: sum(grid_patch_count(w, h, p, s) for w, h in sizes)  # noqa: E731
    assert count(size, size) <= 1000 < count(size - 1, size - 1)
    assert count(16, stride) <= 1000 < count(16, stride - 1)
    assert check_grid_size(sizes, size, 0, memory=memory) == count(size, size)


def test_embeddings_need_more_memory_per_patch():
    memory = (grid_module.GRID_BYTES_PER_PATCH + grid_module.EMBEDDING_BYTES_PER_PATCH) * 100
    assert check_grid_size([(160, 160)], 16, 0, memory=memory) == 100
    with pytest.raises(InvalidParameterError):
        check_grid_size([(176, 176)], 16, 0, memory=memory, with_embeddings=True)  # 121 patches
    assert check_grid_size([(176, 176)], 16, 0, memory=memory) == 121  # masks only: fits


def test_dataset_grid_refuses_before_building_anything(write_raster, monkeypatch):
    image = write_raster("image.tif", np.zeros((3, 256, 256), np.uint8))
    mask = write_raster("mask.tif", np.zeros((256, 256), np.uint8))
    dataset = open_dataset([(image, mask)])
    monkeypatch.setattr(grid_module, "available_memory", lambda: grid_module.GRID_BYTES_PER_PATCH * 50)
    monkeypatch.setattr(dataset_module, "make_grid", lambda *a: pytest.fail("the grid was built"))
    with pytest.raises(InvalidParameterError, match=f"{241 ** 2:,} patches of 16 px every 1 px"):
        dataset_grid(dataset, BalanceConfig(patch_size=16, stride=1))


def test_available_memory_is_reported_here():
    memory = grid_module.available_memory()
    assert memory is None or memory > 0
