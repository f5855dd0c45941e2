"""Starts jobs on the window's pool, a few at a time, and relays their signals."""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, Signal

from ingest_gui.core.jobs import Job, JobState
from ingest_gui.core.services import Services
from ingest_gui.ui.job_worker import UPDATE_INTERVAL_S, JobWorker

log = logging.getLogger(__name__)

MAX_RUNNING_JOBS = 3  # more would only share the same CPU and disk; the rest wait queued
SHORT_TASK_THREADS = 4  # collection operations and health checks never wait behind a job
POOL_THREADS = MAX_RUNNING_JOBS + SHORT_TASK_THREADS
JOB_PRIORITY = 0


class JobQueue(QObject):
    """Owns the running and queued jobs of one window."""

    added = Signal(object)  # Job
    progress = Signal(object)  # ProgressEvent, ~10 a second per job
    finished = Signal(object)  # Job

    def __init__(
        self,
        services: Services,
        pool: QThreadPool,
        max_running: int = MAX_RUNNING_JOBS,
        interval_s: float = UPDATE_INTERVAL_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._services = services
        self._pool = pool
        self._max_running = max_running
        self._interval_s = interval_s
        self._running: dict[str, JobWorker] = {}
        self._waiting: deque[JobWorker] = deque()
        self._closed = False

    def submit(self, folders: list[Path], collection: str) -> Job:
        """Queue a job for these folders (or image files); it starts when a slot is free."""
        if self._closed:
            raise RuntimeError("the window is shutting down")
        job = Job(folders=list(folders), collection=collection)
        worker = JobWorker(self._services, job, self._interval_s)
        worker.signals.progress.connect(self.progress)
        worker.signals.finished.connect(self._on_finished)
        self._waiting.append(worker)
        log.info("queued job %s: %s -> %s", job.id, [str(f) for f in folders], collection)
        self.added.emit(job)
        self._start_next()
        return job

    def cancel(self, job: Job) -> None:
        """Ask a job to stop; a queued one ends at once without starting."""
        job.cancel()
        for worker in list(self._waiting):
            if worker.job is job:
                self._waiting.remove(worker)
                job.state = JobState.CANCELLED
                job.finished_at = time.time()
                self.finished.emit(job)
        log.info("cancel requested for job %s", job.id)

    def cancel_all(self) -> None:
        for worker in [*self._running.values(), *self._waiting]:
            self.cancel(worker.job)

    def active(self) -> list[Job]:
        """Jobs queued or running, in the order they were added."""
        return [w.job for w in (*self._running.values(), *self._waiting)]

    def collections_in_use(self) -> set[str]:
        return {job.collection for job in self.active()}

    def close(self, timeout_ms: int = 60_000) -> bool:
        """Cancel everything and wait for the workers to return; False on a time-out."""
        self._closed = True
        self.cancel_all()
        deadline = time.monotonic() + timeout_ms / 1000
        for worker in list(self._running.values()):
            left = max(0.0, deadline - time.monotonic())
            if not worker.done.wait(left):
                log.warning("job %s did not stop within %d ms", worker.job.id, timeout_ms)
                return False
        return True

    def _start_next(self) -> None:
        while self._waiting and len(self._running) < self._max_running and not self._closed:
            worker = self._waiting.popleft()
            self._running[worker.job.id] = worker
            self._pool.start(worker, JOB_PRIORITY)

    def _on_finished(self, job: Job) -> None:
        self._running.pop(job.id, None)
        self.finished.emit(job)
        self._start_next()
