"""Small helpers the QGIS tests share: spinning Qt's event loop, cancelling a run after n progress reports."""
import time

from qgis.core import QgsProcessingFeedback
from qgis.PyQt.QtCore import QCoreApplication


def wait_for(predicate, timeout=5.0):
    """Spin Qt's event loop (the dock refreshes on a debounce timer) until predicate() holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QCoreApplication.processEvents()
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class CancelAfter(QgsProcessingFeedback):
    """Cancels once progress has been reported `n` times."""

    def __init__(self, n):
        super().__init__()
        self.n, self.calls = n, 0
        self.progressChanged.connect(self._count)

    def _count(self, _):
        self.calls += 1
        if self.calls >= self.n:
            self.cancel()
