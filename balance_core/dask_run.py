"""Per-raster stages as Dask tasks on a `distributed` cluster: one task per raster pair (or band of strips).

Only the stages that read rasters go to the cluster (class composition, embeddings); the per-patch results
come back and everything that needs the whole table at once (clusters, kNN, weights) runs here, as on one
machine, so a cluster run gives the same bytes as a local one.

The workers need numpy and GDAL (or rasterio), torch/transformers for DINOv2, and the raster files under the
same paths (a shared file system or object store mounted alike). They need not have Patch Balancer installed:
the engine's modules are sent to them as a zip under the name this process imports them by (`balance_core`,
or `<plugin folder>.balance_core` inside QGIS), so tasks and results pickle by reference on both sides.

Tables travel as plain dicts of arrays and engine errors as (class name, message), so that what comes back
never depends on classes rebuilt on a worker.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import errors
from .dependencies import require
from .errors import BalanceError, CancelledError, InvalidParameterError
from .progress import NullProgress, Progress, check_cancelled
from .rasters import RasterPair
from .table import PatchTable

# A stage run on a worker: (rows of one pair, the pair, a progress that collects messages) → table, or
# (table, extra) where `extra` is plain data for the caller (e.g. embeddings to add to the cache).
Stage = Callable[[PatchTable, RasterPair, Progress], Any]
CONNECT_TIMEOUT_S = 20
POLL_S = 0.05
ENGINE = __name__.rsplit(".", 1)[0]  # "balance_core", or "<plugin folder>.balance_core" inside QGIS


def pack(table: PatchTable) -> dict[str, Any]:
    return {"columns": dict(table.columns), "class_values": table.class_values, "class_counts": table.class_counts}


def unpack(packed: dict[str, Any]) -> PatchTable:
    table = PatchTable(columns=dict(packed["columns"]))
    if packed["class_counts"] is not None:
        table = table.with_classes(np.asarray(packed["class_values"]), np.asarray(packed["class_counts"]))
    return table


class _Collect(NullProgress):
    """The progress a task reports to: its messages, in order, go back with the result."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.messages.append(("info", message))

    def warning(self, message: str) -> None:
        self.messages.append(("warning", message))


_malloc_tuned = False


def _tune_malloc() -> None:
    """Undo, in this worker process, what Dask's nanny sets for glibc (MALLOC_TRIM_THRESHOLD_=65536): any such
    setting turns off glibc's adaptive mmap threshold, so every strip-sized temporary array is mmap'ed and
    faulted in afresh, which doubled the CPU time of composition on a worker (measured). A 32 MiB threshold
    keeps them in the heap, as in an ordinary process."""
    global _malloc_tuned
    if _malloc_tuned or not sys.platform.startswith("linux"):
        return
    _malloc_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl): nothing to undo
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)
    libc.mallopt(m_trim_threshold, 64 << 20)


def run_task(stage: Stage, packed: dict[str, Any], pair: RasterPair) -> dict[str, Any]:
    """What a worker runs: the stage on its rows, the result packed; an engine error as its name and message."""
    _tune_malloc()
    progress = _Collect()
    try:
        out = stage(unpack(packed), pair, progress)
    except BalanceError as exc:
        return {"error": (type(exc).__name__, str(exc)), "messages": progress.messages}
    table, extra = out if isinstance(out, tuple) else (out, None)
    return {"table": pack(table), "extra": extra, "messages": progress.messages}


def worker_cached(key: tuple, make: Callable[[], Any]) -> Any:
    """One object per worker process and key (a model loads once per worker, not once per task)."""
    try:
        holder = require("distributed", "running on a Dask cluster").get_worker()
    except ValueError:  # not on a worker (a test calling the task directly)
        return make()
    cache = holder.__dict__.setdefault("patch_balancer_objects", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def engine_zip(folder: str) -> str:
    """A zip of the engine's modules under its import name (`balance_core`, or `<plugin>.balance_core` with an
    empty `<plugin>/__init__.py`), for workers that do not have it: named after its content, so that a changed
    engine is sent again and an unchanged one only once."""
    parts = ENGINE.split(".")
    source = Path(__file__).resolve().parent
    modules = sorted(source.glob("*.py"))
    digest = hashlib.sha256(b"".join(m.name.encode() + m.read_bytes() for m in modules)).hexdigest()[:12]
    path = Path(folder) / f"{parts[0]}_engine_{digest}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for depth in range(1, len(parts)):
            archive.writestr("/".join(parts[:depth]) + "/__init__.py", "")
        for module in modules:
            archive.write(module, "/".join(parts) + "/" + module.name)
    return str(path)


def _send_engine(client) -> None:
    """Make the engine importable on every worker (also those that join later) under the name this process
    imports it by. Only workers: a scheduler or worker running inside this process already has it, and
    loading the zip there would replace this process's own package."""
    from distributed.diagnostics.plugin import UploadFile

    here = os.getpid()
    if here in client.run(os.getpid).values():
        return  # threads of this process (LocalCluster(processes=False)): nothing to send
    with tempfile.TemporaryDirectory(prefix="patch_balancer_engine_") as folder:
        path = engine_zip(folder)
        client.register_plugin(UploadFile(path, load=True), name=os.path.basename(path))


def connect(address: str):
    """A client of the scheduler at `address` (tcp://host:8786), or a clear error."""
    distributed = require("distributed", "running on a Dask cluster (DASK_SCHEDULER)")
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InvalidParameterError(
            f"Cannot reach the Dask scheduler at {address!r} within {CONNECT_TIMEOUT_S} s ({exc}). Check the "
            "address (tcp://host:8786) and that the scheduler is running, or leave the scheduler empty to run "
            "on this machine."
        ) from exc


def run_on_cluster(address: str, stage: Stage, jobs: Sequence[tuple[PatchTable, RasterPair]],
                   shares: Sequence[float], progress: Progress) -> list[tuple[PatchTable, Any]]:
    """Run `stage` on every (rows, pair) job on the cluster; (table, extra) per job, in job order.

    Progress moves as jobs finish (weighted by `shares`); a cancel cancels the jobs still queued or running.
    Warnings come back once each, as from the threads of a local run."""
    check_cancelled(progress)
    client = connect(address)
    try:
        _send_engine(client)
        futures = [client.submit(run_task, stage, pack(table), pair, pure=False) for table, pair in jobs]
        results: list[dict[str, Any] | None] = [None] * len(futures)
        pending, done, seen = list(range(len(futures))), 0.0, set()
        while pending:
            if progress.cancelled():
                client.cancel(futures)
                raise CancelledError("Cancelled.")
            finished = [i for i in pending if futures[i].done()]
            for i in finished:
                results[i] = futures[i].result()  # a worker's crash or a non-engine error is raised here
                for kind, text in results[i]["messages"]:
                    if (kind, text) not in seen:
                        seen.add((kind, text))
                        (progress.warning if kind == "warning" else progress.info)(text)
                if "error" in results[i]:
                    client.cancel(futures)
                    name, message = results[i]["error"]
                    error = getattr(errors, name, None)
                    raise (error if isinstance(error, type) and issubclass(error, BalanceError) else BalanceError)(message)
                done += shares[i]
                progress.set_fraction(done)
            pending = [i for i in pending if results[i] is None]
            if pending and not finished:
                time.sleep(POLL_S)
        return [(unpack(r["table"]), r["extra"]) for r in results]
    finally:
        client.close()
