"""One QRunnable per job: it drives the core pipeline and reports through a small QObject."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, Signal

from ingest_gui.core.jobs import Job, JobState, ProgressEvent
from ingest_gui.core.pipeline import run_job
from ingest_gui.core.reasons import describe_error
from ingest_gui.core.services import Services
from ingest_gui.ui.responsive import yielding_to_ui

log = logging.getLogger(__name__)

UPDATE_INTERVAL_S = 0.1  # ~10 updates a second per job: a human pace, whatever the file rate


class JobSignals(QObject):
    """The worker's voice; created on the UI thread so its signals queue into it."""

    progress = Signal(object)  # ProgressEvent, coalesced
    finished = Signal(object)  # Job, once, after its final event


class ProgressThrottle:
    """Lets through at most one progress event per interval; other kinds always pass."""

    def __init__(
        self, interval_s: float = UPDATE_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._last = float("-inf")

    def __call__(self, event: ProgressEvent) -> bool:
        """True when the event should be shown now."""
        if event.kind != "progress":
            return True  # started, scanned, finished: state changes are never dropped
        now = self._clock()
        if now - self._last < self._interval_s:
            return False
        self._last = now
        return True


class JobWorker(QRunnable):
    """Runs `run_job` on a pool thread; never touches a widget."""

    def __init__(
        self, services: Services, job: Job, interval_s: float = UPDATE_INTERVAL_S
    ) -> None:
        super().__init__()
        # The queue keeps this object until `finished`; Qt must not delete it under Python.
        self.setAutoDelete(False)
        self.services = services
        self.job = job
        self.signals = JobSignals()
        self._throttle = ProgressThrottle(interval_s)
        self.done = threading.Event()

    def run(self) -> None:
        try:
            with yielding_to_ui():
                run_job(self.services, self.job, self._on_event)
        except Exception as exc:  # run_job ends jobs readably; this guards against a bug in it
            log.exception("job %s crashed", self.job.id)
            self.job.state = JobState.FAILED
            self.job.message = f"unexpected error: {describe_error(exc)}"
            self.job.finished_at = time.time()
        finally:
            self.done.set()
            self.signals.finished.emit(self.job)

    def _on_event(self, event: ProgressEvent) -> None:
        if self._throttle(event):
            self.signals.progress.emit(event)
