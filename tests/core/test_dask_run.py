"""The per-raster stages on a Dask cluster (a LocalCluster of two worker processes): same bytes as one machine."""
import os
from dataclasses import replace

import numpy as np
import pytest

from balance_core import dask_run
from balance_core.config import BalanceConfig
from balance_core.errors import InvalidParameterError, RasterReadError
from balance_core.pipeline import build_balanced_dataset
from balance_core.progress import NullProgress
from balance_core.writers import write_csv

distributed = pytest.importorskip("distributed")  # a requirement of the project: never skipped in its set-up


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local.scheduler_address


class Recording(NullProgress):
    def __init__(self):
        super().__init__()
        self.fractions, self.warnings = [], []

    def set_fraction(self, fraction):
        self.fractions.append(fraction)

    def warning(self, message):
        self.warnings.append(message)


@pytest.fixture
def tiles(lyon_tiles):
    """The four Lyon tiles as (image, mask) pairs."""
    images, masks = lyon_tiles
    return [(str(images / f"tile_{r}_{c}_rgb.tif"), str(masks / f"tile_{r}_{c}_mask.tif")) for r in range(2) for c in range(2)]


def csv_bytes(table, tmp_path, name):
    path = tmp_path / name
    write_csv(table, str(path))
    return path.read_bytes()


def test_composition_on_the_cluster_gives_the_same_csv(tiles, tmp_path, cluster):
    config = BalanceConfig(patch_size=64, seed=3)
    local, _ = build_balanced_dataset(tiles, config)
    progress = Recording()
    remote, _ = build_balanced_dataset(tiles, replace(config, scheduler=cluster), progress)
    assert csv_bytes(remote, tmp_path, "remote.csv") == csv_bytes(local, tmp_path, "local.csv")
    assert progress.fractions[-1] == pytest.approx(1.0)


def test_a_large_raster_is_cut_into_several_tasks(data_dir, tmp_path, cluster, monkeypatch):
    """One raster pair → one task per band of strips, still the same table."""
    import balance_core.dataset as dataset

    submitted = []
    real = dask_run.run_on_cluster

    def spy(address, stage, jobs, shares, progress):
        submitted.append(len(jobs))
        return real(address, stage, jobs, shares, progress)

    monkeypatch.setattr(dask_run, "run_on_cluster", spy)
    monkeypatch.setattr(dataset, "CLUSTER_TASK_PATCHES", 20)
    pair = [(str(data_dir / "lyon" / "image_rgb.tif"), str(data_dir / "lyon" / "labels.tif"))]
    config = BalanceConfig(patch_size=32)
    local, _ = build_balanced_dataset(pair, config)
    remote, _ = build_balanced_dataset(pair, replace(config, scheduler=cluster))
    assert submitted and submitted[0] >= 8  # 576 patches in bands of ≤ 20 rows of windows' worth
    assert csv_bytes(remote, tmp_path, "r.csv") == csv_bytes(local, tmp_path, "l.csv")


def test_embeddings_on_the_cluster_match_and_only_this_process_writes_the_cache(tiles, tmp_path, cluster):
    cache = tmp_path / "cache.parquet"
    config = BalanceConfig(patch_size=64, mode="both", embedder="descriptor", knn_backend="exact")
    local, _ = build_balanced_dataset(tiles, config)
    remote, _ = build_balanced_dataset(tiles, replace(config, scheduler=cluster, embeddings_cache=str(cache)))
    assert csv_bytes(remote, tmp_path, "remote.csv") == csv_bytes(local, tmp_path, "local.csv")
    assert cache.exists()
    again, _ = build_balanced_dataset(tiles, replace(config, scheduler=cluster, embeddings_cache=str(cache)))
    assert np.array_equal(again["uniqueness_score"], local["uniqueness_score"], equal_nan=True)


def test_an_engine_error_on_a_worker_comes_back_as_itself(write_raster, cluster):
    rng = np.random.default_rng(0)
    image = write_raster("image.tif", np.full((3, 40, 40), 90, np.uint8))
    mask = write_raster("mask.tif", rng.integers(0, 3, (40, 40)).astype(np.uint8))
    with open(mask, "r+b") as fh:  # the header opens, the last strips cannot be read
        fh.truncate(os.path.getsize(mask) - 1000)
    config = BalanceConfig(patch_size=10, exclude_black_border=False)
    with pytest.raises(RasterReadError) as local:
        build_balanced_dataset([(image, mask)], config)
    with pytest.raises(RasterReadError) as remote:
        build_balanced_dataset([(image, mask)], replace(config, scheduler=cluster))
    assert "truncated or corrupt" in str(remote.value) and str(remote.value) == str(local.value)


def test_an_unreachable_scheduler_is_a_clear_error(tiles, monkeypatch):
    monkeypatch.setattr(dask_run, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(InvalidParameterError, match="Cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        build_balanced_dataset(tiles, BalanceConfig(patch_size=64, scheduler="tcp://127.0.0.1:9"))


def test_a_cancelled_run_cancels_its_tasks(tiles, cluster):
    class CancelAfterStart(NullProgress):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def cancelled(self):
            self.calls += 1
            return self.calls > 2  # open_dataset and the grid pass, then the cluster loop

    from balance_core.errors import CancelledError

    with pytest.raises(CancelledError):
        build_balanced_dataset(tiles, BalanceConfig(patch_size=64, scheduler=cluster), CancelAfterStart())


def test_the_command_line_runs_on_the_cluster_given_by_option_or_yaml(tiles, tmp_path, cluster, capsys):
    import yaml

    from balance_core import cli

    images, masks = (str(os.path.dirname(p)) for p in tiles[0])
    document = {"balanced_dataset": {"mode": "masks_only", "input": {"image_dir": images, "mask_dir": masks},
                                     "patch_size": 64, "output": {"csv_path": str(tmp_path / "local.csv")}}}
    (tmp_path / "local.yaml").write_text(yaml.safe_dump(document))
    assert cli.main(["build-balanced-dataset", str(tmp_path / "local.yaml"), "--no-progress"]) == 0
    document["balanced_dataset"]["output"]["csv_path"] = str(tmp_path / "option.csv")
    (tmp_path / "option.yaml").write_text(yaml.safe_dump(document))
    assert cli.main(["build-balanced-dataset", str(tmp_path / "option.yaml"), "--scheduler", cluster,
                     "--no-progress"]) == 0
    document["balanced_dataset"]["output"]["csv_path"] = str(tmp_path / "yaml.csv")
    document["balanced_dataset"]["dask_scheduler"] = "tcp://127.0.0.1:9"  # the option wins over the YAML key
    (tmp_path / "yaml.yaml").write_text(yaml.safe_dump(document))
    assert cli.main(["build-balanced-dataset", str(tmp_path / "yaml.yaml"), "--scheduler", cluster,
                     "--no-progress"]) == 0
    local = (tmp_path / "local.csv").read_bytes()
    assert (tmp_path / "option.csv").read_bytes() == local and (tmp_path / "yaml.csv").read_bytes() == local
    document["balanced_dataset"]["dask_scheduler"] = cluster
    document["balanced_dataset"]["output"]["csv_path"] = str(tmp_path / "key.csv")
    (tmp_path / "key.yaml").write_text(yaml.safe_dump(document))
    assert cli.main(["build-balanced-dataset", str(tmp_path / "key.yaml"), "--no-progress"]) == 0
    assert (tmp_path / "key.csv").read_bytes() == local
