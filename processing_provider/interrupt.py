"""Ctrl+C (SIGINT) and SIGTERM cancel a run like the Cancel button.

`qgis_process` runs the algorithm in its main thread and does nothing useful on either signal by itself
(Ctrl+C was ignored; SIGTERM killed it mid-write). The Processing dialog runs algorithms on a worker thread,
where Python cannot install a signal handler (and there is a Cancel button). So the handler is installed
only in the main thread, only for the duration of the run, and the previous handlers are put back
afterwards. The handler only asks the feedback to cancel: the run stops at its next cancellation check,
cleans up its outputs and fails with "Cancelled", as with the button. A signal that arrives during a long
call outside Python (a GDAL read, a model forward pass) is handled when that call returns.
"""
import signal
import threading
from contextlib import contextmanager

SIGNALS = {signal.SIGINT: "Interrupted (Ctrl+C)"}
if hasattr(signal, "SIGTERM"):
    SIGNALS[signal.SIGTERM] = "Terminated (SIGTERM)"


@contextmanager
def cancel_on_interrupt(feedback):
    """Within the block, SIGINT and SIGTERM call `feedback.cancel()` (in the main thread; elsewhere nothing changes)."""
    if feedback is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    seen = []

    def on_signal(signum, frame):
        if not seen:
            feedback.reportError(f"{SIGNALS.get(signum, 'Signal')}: cancelling the run…", False)
        seen.append(signum)
        feedback.cancel()

    previous = {}
    try:
        for signum in SIGNALS:
            previous[signum] = signal.signal(signum, on_signal)
    except (ValueError, OSError):  # not the main interpreter, or no such signal here
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            # None: a handler installed outside Python, which Python cannot put back; the default is closest
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
