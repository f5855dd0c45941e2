"""Dropping folders and files on the window starts jobs that finish at 100 %."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from ingest_gui.core.jobs import JobState
from ingest_gui.ui import format as fmt
from ingest_gui.ui.main_window import MainWindow
from tests.conftest import photo_files
from tests.ui.helpers import create_collection, drag_enter, drop, file_mime, last_job, wait_finished


def test_dropping_a_folder_ingests_every_image(
    qtbot: QtBot, window: MainWindow, photos: Path
) -> None:
    create_collection(qtbot, window, "holidays")
    assert drag_enter(window, file_mime([photos]))
    assert window.overlay.isVisible(), "a drag over the window shows the drop highlight"
    assert drop(window, [photos])
    assert not window.overlay.isVisible()
    job = last_job(window)
    wait_finished(qtbot, window, job)

    row = window.jobs.row(job)
    expected = len(photo_files(photos))
    c = job.counters
    assert job.state is JobState.COMPLETED
    assert (c.total, c.ingested, c.failed) == (expected, expected, 0)
    assert row.progress.value() == row.progress.maximum() == expected
    assert row.counts.text() == fmt.counts_text(c)
    assert row.state.text() == "Completed"
    assert not row.cancel_button.isVisible()
    # the collection's point count follows the job
    qtbot.waitUntil(lambda: window.collections.collections[0].points > 0)


def test_a_non_image_file_is_refused(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    create_collection(qtbot, window, "holidays")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    assert not drag_enter(window, file_mime([notes]))
    assert not drop(window, [notes])
    assert not window.overlay.isVisible()
    assert window.jobs.rows == {}
