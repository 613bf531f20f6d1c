"""Select coreset and Compute visual uniqueness's external embeddings, through processing.run in real QGIS."""
import json
import sqlite3

import numpy as np
import pytest
from qgis.core import QgsVectorLayer

from balance_core.coreset import CoresetSettings, score_cb, score_lc


def _layer_rows(path):
    with sqlite3.connect(path) as con:
        (layer,) = con.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'").fetchone()
        cursor = con.execute(f'SELECT * FROM "{layer}" ORDER BY patch_id')
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r)) for r in cursor]


@pytest.fixture
def balanced(processing_run, data_dir, tmp_path):
    gpkg = str(tmp_path / "balanced.gpkg")
    processing_run("patchbalancer:buildbalanceddataset", {
        "IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"), "PATCH_SIZE": 64,
        "MIN_ENTROPY": 0.05, "OUTPUT": gpkg})
    return gpkg


@pytest.mark.parametrize("method", [0, 1])  # lc, cb
def test_label_methods_select_the_budget_never_an_excluded_patch(processing_run, balanced, tmp_path, method):
    out = str(tmp_path / "coreset.gpkg")
    result = processing_run("patchbalancer:selectcoreset", {"INPUT": balanced, "METHOD": method, "BUDGET": 0.25,
                                                            "RECOMPUTE_WEIGHTS": True, "OUTPUT": out})
    rows = _layer_rows(out)
    pool = [r for r in rows if not r["excluded"]]
    assert result["POOL_COUNT"] == len(pool) and result["SELECTED_COUNT"] == int(0.25 * len(pool))
    assert not any(r["coreset_selected"] for r in rows if r["excluded"])
    assert all(r["coreset_score"] is None for r in rows if r["excluded"])
    scores = np.array([r["coreset_score"] for r in pool])
    if method == 0:
        entropy = np.array([r["class_entropy"] for r in pool])
        np.testing.assert_allclose(scores, score_lc(entropy))
    else:
        fractions = np.array([[r["c_0"], r["c_1"], r["c_2"]] for r in pool])
        np.testing.assert_allclose(scores, score_cb(fractions, result["SELECTED_COUNT"]), atol=1e-12)
    weights = np.array([r["sampler_weight"] for r in rows])
    selected = np.array([bool(r["coreset_selected"]) for r in rows])
    assert (weights[~selected] == 0).all() and weights[selected].mean() == pytest.approx(1.0)
    assert QgsVectorLayer(out, "c", "ogr").featureCount() == len(rows)


def test_embedding_methods_read_a_field_or_a_parquet_matched_by_window(processing_run, balanced, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = _layer_rows(balanced)
    rng = np.random.default_rng(0)
    vectors = {(r["row_off"], r["col_off"]): rng.normal(size=8).tolist() for r in rows}
    order = rng.permutation(len(rows))  # rows shuffled: position means nothing
    parquet = str(tmp_path / "emb.parquet")
    pq.write_table(pa.table({"image_path": [rows[i]["image_path"] for i in order],
                             "row_off": [rows[i]["row_off"] for i in order],
                             "col_off": [rows[i]["col_off"] for i in order],
                             "embedding": [vectors[(rows[i]["row_off"], rows[i]["col_off"])] for i in order]}), parquet)
    out = str(tmp_path / "fa.gpkg")
    processing_run("patchbalancer:selectcoreset", {"INPUT": balanced, "METHOD": 2, "BUDGET": 10, "BUDGET_MODE": 1,
                                                   "EXTERNAL_EMBEDDINGS": parquet, "OUTPUT": out})
    got = _layer_rows(out)
    pool = [r for r in got if not r["excluded"]]
    from balance_core.coreset import score_fa

    expected = score_fa(np.array([vectors[(r["row_off"], r["col_off"])] for r in pool], dtype=np.float32))
    np.testing.assert_allclose([r["coreset_score"] for r in pool], expected, atol=1e-12)
    assert sum(r["coreset_selected"] for r in got) == 10
    with pytest.raises(Exception, match="embedding"):
        processing_run("patchbalancer:selectcoreset", {"INPUT": balanced, "METHOD": 3, "OUTPUT": str(tmp_path / "x.gpkg")})


def test_uniqueness_from_external_embeddings_equals_computing_them(processing_run, data_dir, tmp_path):
    pytest.importorskip("pyarrow")
    lyon = {"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"), "PATCH_SIZE": 64}
    grid = str(tmp_path / "grid.gpkg")
    processing_run("patchbalancer:createpatchgrid", {**lyon, "OUTPUT": grid})
    comp = str(tmp_path / "comp.gpkg")
    processing_run("patchbalancer:computeclasscomposition", {"INPUT": grid, "OUTPUT": comp})
    cache = str(tmp_path / "cache.parquet")
    computed = str(tmp_path / "computed.gpkg")
    processing_run("patchbalancer:computevisualuniqueness", {"INPUT": comp, "EMBEDDER": "descriptor",
                                                             "EMBEDDINGS_CACHE": cache, "OUTPUT": computed})
    external = str(tmp_path / "external.gpkg")
    processing_run("patchbalancer:computevisualuniqueness", {"INPUT": comp, "EXTERNAL_EMBEDDINGS": cache,
                                                             "EMBEDDER": "dinov2-small", "OUTPUT": external})
    a, b = _layer_rows(computed), _layer_rows(external)
    assert [r["uniqueness_score"] for r in a] == [r["uniqueness_score"] for r in b]
