"""Adapts `QgsProcessingFeedback` to the engine's small `Progress` protocol."""
from qgis.core import QgsProcessingFeedback


class FeedbackProgress:
    def __init__(self, feedback: QgsProcessingFeedback) -> None:
        self.feedback = feedback

    def set_fraction(self, fraction: float) -> None:
        self.feedback.setProgress(100.0 * fraction)

    def cancelled(self) -> bool:
        return self.feedback.isCanceled()

    def info(self, message: str) -> None:
        self.feedback.pushInfo(message)

    def warning(self, message: str) -> None:
        self.feedback.pushWarning(message)
