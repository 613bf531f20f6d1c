"""How progress, cancellation and messages reach the engine, without any QGIS object.

The provider adapts `QgsProcessingFeedback` to `Progress`; scripts and tests use
`NullProgress`.
"""
from __future__ import annotations

import weakref
from typing import Protocol

from .errors import CancelledError


class Progress(Protocol):
    def set_fraction(self, fraction: float) -> None: ...

    def cancelled(self) -> bool: ...

    def info(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...


class NullProgress:
    """Reports nothing and is never cancelled; collects warnings so tests can read them."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def set_fraction(self, fraction: float) -> None:
        pass

    def cancelled(self) -> bool:
        return False

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        self.warnings.append(message)


class SubProgress:
    """Maps a stage's 0..1 onto a slice [start, end] of the parent's progress."""

    def __init__(self, parent: Progress, start: float, end: float) -> None:
        self.parent, self.start, self.end = parent, start, end

    def set_fraction(self, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        self.parent.set_fraction(self.start + (self.end - self.start) * fraction)

    def cancelled(self) -> bool:
        return self.parent.cancelled()

    def info(self, message: str) -> None:
        self.parent.info(message)

    def warning(self, message: str) -> None:
        self.parent.warning(message)


def check_cancelled(progress: Progress) -> None:
    """Raise `CancelledError` when the user asked to stop."""
    if progress.cancelled():
        raise CancelledError("Cancelled by the user; no output was written.")


def overall_fraction(progress: Progress, fraction: float) -> tuple[object, float]:
    """(outermost progress, where `fraction` of this (sub)progress falls on it, 0..1)."""
    while isinstance(progress, SubProgress):
        fraction = progress.start + (progress.end - progress.start) * min(max(fraction, 0.0), 1.0)
        progress = progress.parent
    return progress, fraction


_LAST_LINE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # outermost progress → {kind: last step}


def info_every(progress: Progress, kind: str, fraction: float, message: str, step: float = 0.05) -> bool:
    """Log `message` only when the run has advanced by another `step` (5 %) of its whole work since the last line
    of this kind, so a long stage run pair by pair logs about 20 lines, not one per batch or per raster."""
    root, where = overall_fraction(progress, fraction)
    bucket = int(where / step + 1e-9)
    try:
        last = _LAST_LINE.setdefault(root, {})
    except TypeError:  # a progress object that cannot be weakly referenced: no memory, every line goes out
        progress.info(message)
        return True
    if last.get(kind, -1) >= bucket:
        return False
    last[kind] = bucket
    progress.info(message)
    return True
