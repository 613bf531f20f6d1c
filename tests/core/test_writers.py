import csv
import json
import os
import stat

import numpy as np
import pytest

from balance_core.config import BalanceConfig
from balance_core.pipeline import build_balanced_dataset
from balance_core.schema import class_field
from balance_core.writers import atomic_path, write_csv

EXPECTED_HEAD = ["patch_id", "image_path", "mask_path", "row_off", "col_off", "patch_size"]
EXPECTED_TAIL = ["class_entropy", "nodata_ratio", "excl_border_nodata", "excl_black_border", "excl_image_nodata",
                 "excl_low_entropy", "excl_nodata_ratio", "excluded", "freq_cluster_id", "freq_cluster_size",
                 "freq_cluster_weight", "sampler_weight", "class_dist_json", "has_mask_border_nodata",
                 "has_image_black_border", "has_low_entropy", "has_high_nodata"]


def test_csv_columns_and_values(scene, tmp_path):
    image, mask, array = scene
    table, _ = build_balanced_dataset([(image, mask)], BalanceConfig(patch_size=16, k=3))
    path = tmp_path / "out" / "balanced.csv"
    write_csv(table, str(path))
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0].keys())
    assert header == EXPECTED_HEAD + ["c_0", "c_1", "c_2"] + EXPECTED_TAIL
    assert len(rows) == 16
    first = rows[0]
    assert json.loads(first["class_dist_json"]) == {"1": 1.0}
    assert float(first["c_1"]) == 1.0 and first["image_path"] == image
    weights = np.array([float(r["sampler_weight"]) for r in rows])
    assert np.isfinite(weights).all() and (weights > 0).all()
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o044  # readable by others, like any file
    for row, excluded in zip(rows, table["excluded"]):  # the compatible flags, as pandas reads booleans
        flags = [row[n] for n in ("has_mask_border_nodata", "has_image_black_border", "has_low_entropy", "has_high_nodata")]
        assert set(flags) <= {"True", "False"} and ("True" in flags) == bool(excluded)


def test_negative_class_field_name():
    assert class_field(3) == "c_3" and class_field(-1) == "c_m1"


def test_failed_write_leaves_the_existing_file_untouched(tmp_path):
    target = tmp_path / "keep.csv"
    target.write_text("precious")
    with pytest.raises(RuntimeError):
        with atomic_path(str(target)) as tmp:
            with open(tmp, "w") as fh:
                fh.write("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "precious"
    assert sorted(os.listdir(tmp_path)) == ["keep.csv"]
