"""Progress lines in the log: at most about one per 5 % of a run's work, however many batches or rasters."""
import numpy as np

from balance_core.config import BalanceConfig
from balance_core.descriptor import DescriptorEmbedder
from balance_core.embeddings import compute_embeddings
from balance_core.grid import make_grid
from balance_core.progress import NullProgress, SubProgress, info_every
from balance_core.rasters import open_pair


class Lines(NullProgress):
    def __init__(self):
        super().__init__()
        self.lines = []

    def info(self, message):
        self.lines.append(message)


def test_one_line_per_five_percent_over_many_sub_stages():
    root = Lines()
    for part in range(77):  # e.g. 77 tiles, each embedded in 40 batches
        sub = SubProgress(root, part / 77, (part + 1) / 77)
        for batch in range(1, 41):
            info_every(sub, "embedded", batch / 40, f"tile {part} batch {batch}")
    assert 19 <= len(root.lines) <= 21  # was one per tile (77) or per ten batches
    assert root.lines[0] == "tile 0 batch 1"  # the first line comes at once


def test_embedding_a_raster_in_many_batches_logs_a_line_per_five_percent(data_dir):
    pair = open_pair(str(data_dir / "lyon" / "image_rgb.tif"), str(data_dir / "lyon" / "labels.tif"))
    table = make_grid(pair.width, pair.height, 32, 32)  # 576 patches
    table = table.with_columns(excluded=np.zeros(len(table), bool))
    config = BalanceConfig(patch_size=32, mode="both", batch_size=2)  # 288 batches
    progress = Lines()
    compute_embeddings(table, pair, config, progress, DescriptorEmbedder())
    embedded = [line for line in progress.lines if line.startswith("Embedded")]
    assert 19 <= len(embedded) <= 21, embedded  # was one per ten batches: 29
    assert embedded[0].startswith("Embedded 2 of 576 patches of image_rgb.tif")
    assert embedded[-1].startswith("Embedded 576 of 576 patches of image_rgb.tif")
