"""The job worker's throttle and signals, the rate meter, and the pool executor."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThreadPool
from pytestqt.qtbot import QtBot

from ingest_gui.core.jobs import Counters, Job, JobState, ProgressEvent
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.services import Services
from ingest_gui.ui import format as fmt
from ingest_gui.ui.job_worker import JobWorker, ProgressThrottle
from tests.conftest import photo_files


def _event(kind: str, done: int = 0) -> ProgressEvent:
    return ProgressEvent("j", kind, JobState.RUNNING, Counters(total=10, ingested=done))


def test_throttle_passes_state_changes_and_about_ten_progress_events_a_second() -> None:
    now = [0.0]
    throttle = ProgressThrottle(0.1, clock=lambda: now[0])
    assert throttle(_event("started")) and throttle(_event("scanned"))
    passed = 0
    for i in range(1000):  # 1000 files in one second
        now[0] = i / 1000
        passed += throttle(_event("progress", i))
    assert passed == 10
    assert throttle(_event("finished", 10))  # the final event is never dropped


def test_worker_emits_coalesced_progress_and_the_final_event(
    qtbot: QtBot, services: Services, photos: Path
) -> None:
    CollectionManager(services).create("w")
    job = Job([photos], "w")
    worker = JobWorker(services, job, interval_s=60.0)  # nothing passes but state changes
    events: list[ProgressEvent] = []
    finished: list[Job] = []
    worker.signals.progress.connect(events.append)
    worker.signals.finished.connect(finished.append)
    pool = QThreadPool()
    pool.start(worker)
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    pool.waitForDone()
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["started", "scanned"] and kinds[-1] == "finished"
    assert kinds.count("progress") <= 1
    assert events[-1].counters == job.counters
    assert job.counters.total == len(photo_files(photos)) == job.counters.done
    assert finished == [job]


def test_rate_meter_and_formatting() -> None:
    now = [0.0]
    meter = fmt.RateMeter(window_s=5.0, clock=lambda: now[0])
    assert meter.rate() is None
    for t in range(11):
        now[0] = float(t)
        meter.add(20 * t)  # 20 files a second
    assert meter.rate() == 20.0
    assert meter.eta_s(100) == 5.0
    now[0] = 20.0  # ten seconds with nothing done: the rate falls, the time left grows
    assert meter.rate() is not None and meter.rate() < 20.0
    assert [fmt.duration(s) for s in (0.42, 12.4, 65, 3725)] == ["0.4 s", "12 s", "1:05", "1:02:05"]
    c = Counters(total=500, ingested=100, cached=10, unchanged=8, failed=2)
    assert fmt.counts_text(c) == "120 of 500 — 100 ingested · 10 cached · 8 unchanged · 2 failed"


def test_the_queue_runs_a_few_jobs_at_once_and_cancels_queued_ones(
    qtbot: QtBot, qloop: object, services: Services, photos: Path
) -> None:
    from ingest_gui.ui.job_queue import JobQueue

    CollectionManager(services).create("q")
    pool = QThreadPool()
    queue = JobQueue(services, pool, max_running=1)
    finished: list[Job] = []
    queue.finished.connect(finished.append)
    first = queue.submit([photos / "jpg"], "q")
    second = queue.submit([photos / "tiff"], "q")
    third = queue.submit([photos / "heic"], "q")
    assert second.state is JobState.QUEUED and queue.active() == [first, second, third]
    queue.cancel(third)  # never started: ends at once
    assert third.state is JobState.CANCELLED and third.started_at is None
    qtbot.waitUntil(lambda: len(finished) == 3, timeout=60_000)
    assert finished[0] is third
    assert {first.state, second.state} == {JobState.COMPLETED}
    assert second.started_at is not None and first.finished_at is not None
    assert second.started_at >= first.finished_at  # one at a time
    assert queue.close() and queue.active() == []
    pool.waitForDone()
