"""Window fixtures: the real core on an embedded store in a temp data folder, a qasync loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import qasync
from PySide6.QtCore import QEvent, QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from ingest_gui.core.services import Services
from ingest_gui.core.settings import load_settings
from ingest_gui.ui.main_window import MainWindow
from ingest_gui.ui.style import STYLE_SHEET


@pytest.fixture(scope="session")
def _session_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    # pytest-qt spins Qt's loop (waitUntil, waitSignal); the qasync loop rides on it.
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.events._set_running_loop(None)  # set per test below, so other tests see none
    qapp.setStyleSheet(STYLE_SHEET)
    yield loop
    asyncio.events._set_running_loop(loop)
    loop.stop()
    loop.close()
    asyncio.events._set_running_loop(None)


@pytest.fixture
def qloop(_session_loop: qasync.QEventLoop) -> Iterator[qasync.QEventLoop]:
    """The qasync loop, current and running for this test only."""
    asyncio.set_event_loop(_session_loop)
    asyncio.events._set_running_loop(_session_loop)
    yield _session_loop
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


WindowFactory = Callable[[], MainWindow]


@pytest.fixture
def make_window(qtbot: QtBot, qloop: qasync.QEventLoop, data_dir: Path) -> Iterator[WindowFactory]:
    """Build windows on Services from load_settings(); tear each down completely after."""
    made: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow(Services(load_settings()))
        made.append(window)
        window.show()
        qtbot.waitUntil(lambda: window.collections.loaded)
        return window

    yield make
    for window in made:
        if not getattr(window, "_test_closed", False):
            close_window(qtbot, window)


def close_window(qtbot: QtBot, window: MainWindow) -> None:
    """Close as a person would (jobs cancelled), then prove nothing is left running."""
    window._test_closed = True  # type: ignore[attr-defined]
    window.force_quit = True
    window.close()
    window.shutdown()
    qtbot.waitUntil(lambda: window.tasks.pending == 0)
    assert window.pool.activeThreadCount() == 0, "a worker is still running"
    active = [
        f"{type(t.parent()).__name__}/{t.objectName()}"
        for t in window.findChildren(QTimer) if t.isActive()
    ]
    assert not active, f"timers left running: {active}"
    assert not window.queue.active()
    window.services.close()
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def window(make_window: WindowFactory) -> MainWindow:
    return make_window()


@pytest.fixture
def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
