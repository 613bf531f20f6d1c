"""Staged outputs: nothing reaches the user's folder until the whole run commits."""
import os
import stat
import threading
import time

import numpy as np
import pytest

from balance_core import staged_outputs
from balance_core.errors import OutputWriteError
from balance_core.staged_outputs import StagedOutputs, staging, target_locks
from balance_core.table import PatchTable
from balance_core.writers import atomic_path, write_csv


def small_table() -> PatchTable:
    return PatchTable({"patch_id": np.arange(3), "sampler_weight": np.array([1.0, 0.5, 1.5])})


def test_nothing_is_in_place_before_commit(tmp_path):
    (tmp_path / "old.csv").write_text("old")
    with staging(StagedOutputs()) as outputs:
        write_csv(small_table(), str(tmp_path / "old.csv"))
        write_csv(small_table(), str(tmp_path / "new.csv"))
        assert (tmp_path / "old.csv").read_text() == "old" and not (tmp_path / "new.csv").exists()
        outputs.commit()
    assert (tmp_path / "old.csv").read_text().startswith("patch_id,")
    assert sorted(os.listdir(tmp_path)) == ["new.csv", "old.csv"]


def test_a_failure_rolls_back_every_staged_file_and_created_folder(tmp_path):
    (tmp_path / "old.csv").write_text("old")
    with pytest.raises(RuntimeError):
        with staging(StagedOutputs()):
            write_csv(small_table(), str(tmp_path / "old.csv"))
            write_csv(small_table(), str(tmp_path / "a" / "b" / "new.csv"))
            with atomic_path(str(tmp_path / "x.gpkg")) as tmp:  # SQLite side files of a staged GeoPackage
                for suffix in ("", "-wal", "-shm"):
                    open(tmp + suffix, "w").close()
                raise RuntimeError("the run failed")
    assert sorted(os.listdir(tmp_path)) == ["old.csv"]
    assert (tmp_path / "old.csv").read_text() == "old"


def test_an_existing_file_keeps_its_permissions_and_new_ones_follow_the_umask(tmp_path, monkeypatch):
    old = tmp_path / "old.csv"
    old.write_text("old")
    os.chmod(old, 0o600)
    umask = os.umask(0o022)
    os.umask(umask)

    def no_umask_change(mask):  # changing the process umask races with QGIS's other threads
        raise AssertionError("the process umask must not be changed")

    monkeypatch.setattr(os, "umask", no_umask_change)
    write_csv(small_table(), str(old))
    write_csv(small_table(), str(tmp_path / "new.csv"))
    with staging(StagedOutputs()) as outputs:
        write_csv(small_table(), str(tmp_path / "staged.csv"))
        outputs.commit()
    assert stat.S_IMODE(os.stat(old).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "new.csv").st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(os.stat(tmp_path / "staged.csv").st_mode) == 0o666 & ~umask


def test_a_write_error_names_the_file_and_the_reason(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputWriteError, match="a_file"):
        write_csv(small_table(), str(tmp_path / "a_file" / "out.csv"))


def test_temporary_names_keep_the_extension_and_no_other_dot(tmp_path):
    name = os.path.basename(staged_outputs.temporary_name(str(tmp_path / "my.patches.gpkg")))
    assert name.endswith(".gpkg") and name.count(".") == 1 and not name.startswith(".")


def test_commits_on_the_same_target_never_overlap(tmp_path):
    target = str(tmp_path / "out.csv")
    inside, overlaps = [], []

    def commit():
        with target_locks([target]):
            inside.append(1)
            if len(inside) > 1:
                overlaps.append(True)
            time.sleep(0.05)
            inside.pop()

    threads = [threading.Thread(target=commit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []
