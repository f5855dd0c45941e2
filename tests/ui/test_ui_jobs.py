"""The jobs panel: cancel, failed files with CSV export, several jobs, clear finished."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from ingest_gui.core.jobs import JobState
from ingest_gui.ui.main_window import MainWindow
from tests.conftest import photo_files
from tests.mlserver import FakeMLServer
from tests.ui.conftest import WindowFactory
from tests.ui.helpers import create_collection, drop, last_job, wait_finished


def test_cancel_a_running_job(
    qtbot: QtBot,
    make_window: WindowFactory,
    ml_server: FakeMLServer,
    photos: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ML_INFERENCE_SERVICE_URL", ml_server.url)
    monkeypatch.setenv("ML_INFERENCE_BATCH_SIZE", "4")
    window = make_window()
    create_collection(qtbot, window, "slow", backend="http")
    ml_server.delay_s = 1.0  # seconds per batch: the job is still running when we cancel
    assert drop(window, [photos])
    job = last_job(window)
    row = window.jobs.row(job)
    # the first batch call is the connection probe; wait for a real batch of this job
    qtbot.waitUntil(
        lambda: job.counters.total > 0 and len(ml_server.batch_calls()) >= 2, timeout=20_000
    )
    assert job.state is JobState.RUNNING
    assert row.cancel_button.isVisible()

    qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
    assert not row.cancel_button.isEnabled()  # no double cancel while it stops
    wait_finished(qtbot, window, job, timeout=20_000)
    assert job.state is JobState.CANCELLED
    assert row.state.text() == "Cancelled"
    assert not row.cancel_button.isVisible()
    assert job.counters.done < job.counters.total
    assert row.progress.value() == job.counters.done


def test_failed_files_are_listed_and_exported(
    qtbot: QtBot, window: MainWindow, photos: Path, tmp_path: Path
) -> None:
    broken = photos / "broken.jpg"
    broken.write_text("this is not a JPEG")
    create_collection(qtbot, window, "holidays")
    assert drop(window, [photos])
    job = last_job(window)
    wait_finished(qtbot, window, job)

    row = window.jobs.row(job)
    assert job.state is JobState.COMPLETED
    assert job.counters.failed == 1
    assert job.counters.total == len(photo_files(photos))
    assert row.state.text() == "Completed, 1 failed"
    assert row.progress.value() == row.progress.maximum()  # failures count toward 100 %
    assert row.failures_button.isVisible() and row.failures_button.text() == "1 failed…"

    qtbot.mouseClick(row.failures_button, Qt.MouseButton.LeftButton)
    dialog = window.jobs.failure_dialogs[job.id]
    assert dialog.isVisible()
    [error] = job.errors
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 0).text() == str(broken)
    assert dialog.table.item(0, 1).text() == error.stage
    assert dialog.table.item(0, 2).text() == error.reason
    assert error.stage and error.reason

    out = tmp_path / "failed.csv"
    with qtbot.waitSignal(dialog.exported) as blocker:
        dialog.export_csv(out)
    assert blocker.args == [str(out)]
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows == [["path", "stage", "reason"], [str(broken), error.stage, error.reason]]


def test_several_jobs_at_once_then_clear_finished(
    qtbot: QtBot, window: MainWindow, photos: Path
) -> None:
    create_collection(qtbot, window, "holidays")
    assert drop(window, [photos / "jpg"])
    first = last_job(window)
    assert drop(window, [photos / "tiff", photos / "heic"])
    second = last_job(window)
    assert first is not second and len(window.jobs.rows) == 2
    wait_finished(qtbot, window, first)
    wait_finished(qtbot, window, second)
    assert first.counters.total == len(photo_files(photos / "jpg"))
    assert second.counters.total == 9
    assert window.jobs.clear_button.isEnabled()

    qtbot.mouseClick(window.jobs.clear_button, Qt.MouseButton.LeftButton)
    assert window.jobs.rows == {}
    assert not window.jobs.hint.isHidden()
    assert not window.jobs.tick.isActive()


def test_a_job_that_cannot_run_says_why(
    qtbot: QtBot,
    make_window: WindowFactory,
    photos: Path,
    monkeypatch: pytest.MonkeyPatch,
    unused_port: int,
) -> None:
    monkeypatch.setenv("ML_INFERENCE_SERVICE_URL", f"http://127.0.0.1:{unused_port}")
    window = make_window()
    create_collection(qtbot, window, "remote", backend="http")
    assert drop(window, [photos / "tiff"])
    job = last_job(window)
    wait_finished(qtbot, window, job, timeout=30_000)
    row = window.jobs.row(job)
    assert job.state is JobState.FAILED
    assert row.state.text() == "Failed"
    assert row.message.isVisible() and "unreachable" in row.message.text()
