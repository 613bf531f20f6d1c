"""Visual uniqueness through processing.run: DINOv2 (tiny, local), the descriptor, all methods,
the cache, early refusals, missing packages, cancel mid-extraction."""
import csv
import math

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer

ALG = "patchbalancer:buildbalanceddataset"
METHODS = ["", "rank_max", "rank_multiply", "rank_add", "multiplicative", "composition_only", "uniqueness_only",
           "class_balance", "repeat_factor", "sqrt_inverse_freq"]  # the Processing enum's order
MASKS_ONLY, EMBEDDINGS_ONLY, BOTH = 0, 1, 2


class Recorder(QgsProcessingFeedback):
    def __init__(self, cancel_at=None):
        super().__init__()
        self.infos, self.cancel_at = [], cancel_at

    def pushInfo(self, info):
        self.infos.append(info)
        super().pushInfo(info)

    def setProgress(self, progress):
        super().setProgress(progress)
        if self.cancel_at is not None and progress >= self.cancel_at:
            self.cancel()


@pytest.fixture
def lyon(data_dir):
    return dict(IMAGE=str(data_dir / "lyon/image_rgb.tif"), MASK=str(data_dir / "lyon/labels.tif"), PATCH_SIZE=64)


def features(path):
    layer = QgsVectorLayer(path, "patches", "ogr")
    assert layer.isValid()
    return layer, list(layer.getFeatures())


def test_dinov2_from_a_local_folder_with_cache(processing_run, lyon, tiny_dinov2, tmp_path):
    cache, gpkg, table = tmp_path / "emb.parquet", str(tmp_path / "p.gpkg"), str(tmp_path / "p.csv")
    params = {**lyon, "MODE": BOTH, "EMBEDDER": tiny_dinov2, "DEVICE": 1, "PRECISION": 1, "BATCH_SIZE": 16,
              "EMBEDDINGS_CACHE": str(cache), "OUTPUT": gpkg, "OUTPUT_CSV": table}
    first = Recorder()
    result = processing_run(ALG, params, feedback=first)
    assert result["EMBEDDINGS_CACHE"] == str(cache) and cache.exists()
    assert any("0 of 144 patches found, 144 to compute" in i for i in first.infos)
    layer, feats = features(gpkg)
    assert "uniqueness_score" in layer.fields().names() and "freq_cluster_id" in layer.fields().names()
    scores = [f["uniqueness_score"] for f in feats]
    assert all(s is not None and s >= 0 for s in scores) and len(set(scores)) > 10
    with open(table, newline="") as fh:
        assert "uniqueness_score" in next(csv.reader(fh))

    second = Recorder()
    processing_run(ALG, {**params, "OUTPUT": str(tmp_path / "q.gpkg")}, feedback=second)
    assert any("144 of 144 patches found, 0 to compute" in i for i in second.infos)
    _, again = features(str(tmp_path / "q.gpkg"))
    assert [f["uniqueness_score"] for f in again] == pytest.approx(scores)


@pytest.mark.parametrize("method", range(len(METHODS)))
def test_every_sampling_method(processing_run, lyon, tmp_path, method):
    name = METHODS[method]
    mode = {"composition_only": MASKS_ONLY, "uniqueness_only": EMBEDDINGS_ONLY}.get(name, BOTH)
    gpkg = str(tmp_path / "p.gpkg")
    processing_run(ALG, {**lyon, "MODE": mode, "SAMPLING_METHOD": method, "EMBEDDER": "descriptor", "OUTPUT": gpkg})
    layer, feats = features(gpkg)
    weights = [f["sampler_weight"] for f in feats]
    assert all(w > 0 for w in weights)
    if name in ("", "class_balance"):  # the default: expected draws per epoch, mean 1, at most the cap of 5
        assert sum(weights) / len(weights) == pytest.approx(1.0) and max(weights) <= 5 + 1e-9
    elif name in METHODS[1:7]:  # percentile ranks in [floor, 1]
        assert 0.5 < max(weights) <= 1.0
    assert ("uniqueness_score" in layer.fields().names()) == (mode != MASKS_ONLY)
    assert ("freq_cluster_id" in layer.fields().names()) == (mode != EMBEDDINGS_ONLY)


def test_one_band_sixteen_bit_image_with_excluded_patches(processing_run, data_dir, tmp_path):
    gpkg = str(tmp_path / "a.gpkg")
    result = processing_run(ALG, {"IMAGE": str(data_dir / "atlanta/image_pan.tif"), "MASK": str(data_dir / "atlanta/labels.tif"),
                                  "PATCH_SIZE": 64, "MAX_NODATA_RATIO": 0.0, "MIN_ENTROPY": 0.01, "MODE": BOTH,
                                  "EMBEDDER": "descriptor", "BANDS": [1], "OUTPUT": gpkg})
    assert 0 < result["EXCLUDED_COUNT"] < result["PATCH_COUNT"]
    _, feats = features(gpkg)
    for f in feats:
        score = f["uniqueness_score"]
        if f["excluded"]:
            assert (score is None or (isinstance(score, float) and math.isnan(score)) or score.isNull()) and f["sampler_weight"] == 0
        else:
            assert score >= 0 and f["sampler_weight"] > 0


def test_method_needing_an_uncomputed_signal_is_refused_before_work(processing_run, lyon, tmp_path):
    gpkg = tmp_path / "p.gpkg"
    with pytest.raises(QgsProcessingException, match="needs visual uniqueness.*use mode 'both'"):
        processing_run(ALG, {**lyon, "MODE": MASKS_ONLY, "SAMPLING_METHOD": 1, "OUTPUT": str(gpkg)})
    assert not gpkg.exists()


def test_band_beyond_the_image_is_refused(processing_run, lyon, tmp_path):
    with pytest.raises(QgsProcessingException):
        processing_run(ALG, {**lyon, "MODE": BOTH, "EMBEDDER": "descriptor", "BANDS": [4], "OUTPUT": str(tmp_path / "p.gpkg")})
    assert not (tmp_path / "p.gpkg").exists()


def test_cancel_mid_extraction_writes_no_layer_but_keeps_the_cache(processing_run, lyon, tiny_dinov2, tmp_path):
    gpkg, cache = tmp_path / "p.gpkg", tmp_path / "emb.parquet"
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing_run(ALG, {**lyon, "MODE": BOTH, "EMBEDDER": tiny_dinov2, "BATCH_SIZE": 8, "PRECISION": 1,
                             "EMBEDDINGS_CACHE": str(cache), "OUTPUT": str(gpkg)}, feedback=Recorder(cancel_at=40))
    assert not gpkg.exists()
    import pyarrow.parquet as pq
    assert 0 < pq.read_table(cache).num_rows < 144
