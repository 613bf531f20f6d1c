"""How progress, cancellation and messages reach the engine, without any QGIS object.

The provider adapts `QgsProcessingFeedback` to `Progress`; scripts and tests use
`NullProgress`.
"""
from __future__ import annotations

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
