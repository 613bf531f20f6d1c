"""Every output of one run is written beside its target and moved into place only at the end.

A run's outputs (patch layer, CSV, report, …) are *staged*: each is written to a hidden
temporary file in its target's folder. Only when the whole run has succeeded does `commit`
move them all into place, under a lock per target, so that

- a failed or cancelled run leaves every pre-existing file byte for byte as it was and
  nothing new behind (`rollback` removes the staged files, their SQLite side files and
  any folder the run created);
- two runs writing the same outputs never interleave: each commit is whole.

Renames within one folder are atomic, so a reader never sees a half-written file. While a
`StagedOutputs` is active (`staging`), the engine's own writers (`writers.atomic_path`)
stage into it instead of replacing at once.
"""
from __future__ import annotations

import contextlib
import contextvars
import errno
import glob
import hashlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator

from .errors import OutputWriteError

SIDE_SUFFIXES = ("-journal", "-wal", "-shm")  # what SQLite (GeoPackage) leaves beside a database
_ACTIVE: contextvars.ContextVar[StagedOutputs | None] = contextvars.ContextVar("patch_balancer_staging", default=None)


def active() -> StagedOutputs | None:
    """The outputs being staged by the current run (thread/context), if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def staging(outputs: StagedOutputs) -> Iterator[StagedOutputs]:
    """Make `outputs` the current run's; rolled back when the block raises."""
    token = _ACTIVE.set(outputs)
    try:
        yield outputs
    except BaseException:
        outputs.rollback()
        raise
    finally:
        _ACTIVE.reset(token)


def write_error(path: str, exc: OSError) -> OutputWriteError:
    """An analyst-readable message for a failed write (full disk, permissions, …)."""
    reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else (exc.strerror or str(exc))
    return OutputWriteError(f"Cannot write {path!r}: {reason}. Nothing was changed; free space or choose another folder.")


def temporary_name(target: str, tag: str = "partial") -> str:
    """An unused file name in the target's folder that keeps the target's extension.

    No dot but the extension's, and none in front: QGIS takes everything after a file name's first
    dot as its format extension (`.x.partial.gpkg` would be format "x.partial.gpkg").
    """
    folder, name = os.path.split(os.path.abspath(target))
    stem, ext = os.path.splitext(name)
    while True:
        candidate = os.path.join(folder, f"~{stem.replace('.', '_')}_{tag}_{secrets.token_hex(4)}{ext}")
        if not os.path.lexists(candidate):
            return candidate


class StagedOutputs:
    """The staged files of one run, with what commit must do to put them in place."""

    def __init__(self) -> None:
        self._moves: list[tuple[str, str, tuple[str, ...]]] = []  # (staged, target, extra suffixes moved along)
        self._actions: list[tuple[str, Callable[[], None]]] = []  # (target, action) run at commit
        self._after: list[Callable[[], None]] = []  # after everything is in place (e.g. load layers)
        self._temporary: list[str] = []  # removed at rollback, and after commit if still there
        self._created_dirs: list[str] = []
        self.committed = False

    # --- staging ------------------------------------------------------------------------------

    def path_for(self, target: str) -> str:
        """A temporary path beside `target` (folders created now, removed again on rollback)."""
        self._make_folder(os.path.dirname(os.path.abspath(target)))
        path = temporary_name(target)
        self._temporary.append(path)
        return path

    def replace_on_commit(self, staged: str, target: str, sidecar_exts: tuple[str, ...] = ()) -> None:
        """At commit, `staged` replaces `target` (and `staged`'s sidecars, e.g. a shapefile's .dbf, theirs)."""
        self._moves.append((staged, os.path.abspath(target), sidecar_exts))

    def on_commit(self, target: str, action: Callable[[], None]) -> None:
        """At commit, under `target`'s lock, run `action` (e.g. replace one layer inside a GeoPackage)."""
        self._actions.append((os.path.abspath(target), action))

    def after_commit(self, action: Callable[[], None]) -> None:
        self._after.append(action)

    def _make_folder(self, folder: str) -> None:
        missing = []
        while folder and not os.path.isdir(folder):
            missing.append(folder)
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        for path in reversed(missing):
            try:
                os.mkdir(path)
            except OSError as exc:
                raise write_error(path, exc) from exc
            self._created_dirs.append(path)

    # --- the end of the run ------------------------------------------------------------------

    def targets(self) -> list[str]:
        return sorted({t for _, t, _ in self._moves} | {t for t, _ in self._actions})

    def commit(self) -> None:
        """Put every staged output in place; an existing target keeps its permissions.

        The in-place actions (a layer into an existing GeoPackage, in one SQLite transaction) run
        first, as they are the ones that can still fail; the renames within a folder come last.
        """
        with target_locks(self.targets()):
            for _, action in self._actions:
                action()
            for staged, target, sidecar_exts in self._moves:
                _keep_mode(target, staged)
                try:
                    for ext in sidecar_exts:
                        os.replace(_with_ext(staged, ext), _with_ext(target, ext))
                    os.replace(staged, target)
                except OSError as exc:
                    raise write_error(target, exc) from exc
        self.committed = True
        self._remove_temporary()
        for action in self._after:
            action()

    def rollback(self) -> None:
        """Remove everything the run staged or created; pre-existing files are never touched."""
        if self.committed:
            return
        self._remove_temporary()
        for folder in reversed(self._created_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only when empty: something else may have been put there meanwhile
        self._created_dirs.clear()

    def _remove_temporary(self) -> None:
        """The staged files with their SQLite side files and format sidecars (same unique stem)."""
        for path in self._temporary:
            stem = os.path.splitext(path)[0]
            for candidate in {path, *(path + s for s in SIDE_SUFFIXES), *glob.glob(glob.escape(stem) + ".*")}:
                _remove(candidate)


def _with_ext(path: str, ext: str) -> str:
    return os.path.splitext(path)[0] + ext


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _keep_mode(target: str, staged: str) -> None:
    if os.path.exists(target) and os.path.exists(staged):
        with contextlib.suppress(OSError):
            shutil.copymode(target, staged)


# --- locks ---------------------------------------------------------------------------------------

LOCK_FOLDER = os.path.join(tempfile.gettempdir(), "patch-balancer-locks")


@contextlib.contextmanager
def target_locks(targets: list[str]) -> Iterator[None]:
    """Exclusive locks on these output paths, taken in sorted order (no deadlock between runs).

    Lock files live in the temporary folder, never beside the user's files. OS file locks
    are per open file, so they also order two runs in threads of one QGIS process.
    """
    os.makedirs(LOCK_FOLDER, exist_ok=True)
    held = []
    try:
        for target in sorted(set(targets)):
            key = hashlib.sha256(os.path.normcase(os.path.realpath(target)).encode("utf-8")).hexdigest()[:40]
            handle = open(os.path.join(LOCK_FOLDER, key + ".lock"), "a+b")
            _lock(handle)
            held.append(handle)
        yield
    finally:
        for handle in reversed(held):
            _unlock(handle)
            handle.close()


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(handle) -> None:
        handle.seek(0)
        while True:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after ~10 s; keep waiting
                continue

    def _unlock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)

    def _unlock(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
