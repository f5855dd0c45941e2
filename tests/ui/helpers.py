"""Helpers for driving the window: drops, collections, waiting for jobs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from ingest_gui.core.jobs import Job
from ingest_gui.ui.dialogs import NewCollection
from ingest_gui.ui.main_window import MainWindow


def file_mime(paths: list[Path]) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def drag_enter(window: MainWindow, mime: QMimeData) -> bool:
    """Send a real drag-enter event; True when the window accepts the drag."""
    event = QDragEnterEvent(
        QPointF(200, 200), Qt.DropAction.CopyAction, mime,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )
    event.ignore()
    QApplication.sendEvent(window, event)
    return event.isAccepted()


def drop(window: MainWindow, paths: list[Path]) -> bool:
    """Drag the paths onto the window and drop them, as the file manager would."""
    mime = file_mime(paths)
    if not drag_enter(window, mime):
        return False
    event = QDropEvent(
        QPointF(200, 200), Qt.DropAction.CopyAction, mime,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )
    event.ignore()
    QApplication.sendEvent(window, event)
    return event.isAccepted()


def create_collection(
    qtbot: QtBot, window: MainWindow, name: str, backend: str = "builtin", size: int = 512
) -> None:
    """Create (and activate) a collection through the panel's coroutine."""
    panel = window.collections
    with qtbot.waitSignal(panel.created, timeout=20_000):
        window.tasks.spawn(panel.create_collection(NewCollection(name, size, "Cosine", backend)))
    qtbot.waitUntil(lambda: panel.active == name)


def last_job(window: MainWindow) -> Job:
    rows = list(window.jobs.rows.values())
    assert rows, "no job was started"
    return rows[-1].job


def wait_finished(qtbot: QtBot, window: MainWindow, job: Job, timeout: int = 60_000) -> None:
    """Until the job has ended and its row shows the final state."""
    # The queue forgets a job when the UI thread has handled its `finished` signal,
    # which is also when the row shows the final state.
    qtbot.waitUntil(
        lambda: job.state.finished and all(j is not job for j in window.queue.active()),
        timeout=timeout,
    )
