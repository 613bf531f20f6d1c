"""DASK_SCHEDULER through Processing: the plugin's engine travels to worker processes that cannot import it, and
the outputs are byte for byte those of a run on this machine."""
import pytest

distributed = pytest.importorskip("distributed")  # a requirement of the project: never skipped in its set-up

ALG = "patchbalancer:buildbalanceddataset"


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local.scheduler_address


def test_a_run_on_the_cluster_writes_the_same_csv(processing_run, lyon_tiles, tmp_path, cluster):
    images, masks = lyon_tiles
    common = {"IMAGE_FOLDER": str(images), "MASK_FOLDER": str(masks), "PATCH_SIZE": 64, "MODE": 2,
              "EMBEDDER": "descriptor", "KNN_BACKEND": 1}
    processing_run(ALG, {**common, "OUTPUT": str(tmp_path / "here.gpkg"), "OUTPUT_CSV": str(tmp_path / "here.csv")})
    processing_run(ALG, {**common, "DASK_SCHEDULER": cluster, "OUTPUT": str(tmp_path / "cluster.gpkg"),
                         "OUTPUT_CSV": str(tmp_path / "cluster.csv")})
    here, there = (tmp_path / "here.csv").read_bytes(), (tmp_path / "cluster.csv").read_bytes()
    assert here.count(b"\n") == 1 + 4 * 36 and there == here


def test_an_unreachable_scheduler_is_refused_with_its_address(processing_run, lyon_tiles, tmp_path, monkeypatch):
    from patch_balancer.balance_core import dask_run
    from qgis.core import QgsProcessingException

    monkeypatch.setattr(dask_run, "CONNECT_TIMEOUT_S", 1)
    images, masks = lyon_tiles
    with pytest.raises(QgsProcessingException, match="Cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        processing_run(ALG, {"IMAGE_FOLDER": str(images), "MASK_FOLDER": str(masks), "PATCH_SIZE": 64,
                             "DASK_SCHEDULER": "tcp://127.0.0.1:9", "OUTPUT": str(tmp_path / "x.gpkg")})
    assert not list(tmp_path.glob("*.gpkg"))
