"""Start the window: QApplication, the qasync event loop, the one Services, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import qasync
from PySide6.QtCore import QSocketNotifier
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from ingest_gui import __version__
from ingest_gui.appinfo import APP_ID, APP_NAME, icon_files
from ingest_gui.core.errors import IngestError
from ingest_gui.core.logs import setup_logging
from ingest_gui.core.services import Services
from ingest_gui.core.settings import load_settings
from ingest_gui.ui import crash
from ingest_gui.ui.main_window import MainWindow
from ingest_gui.ui.responsive import favour_ui_thread, freeze_startup_objects
from ingest_gui.ui.single_instance import FileOpenEvents, claim, server_name
from ingest_gui.ui.style import STYLE_SHEET, app_icon

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Open the window on the given folders (or hand them to the open one); the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    paths = [Path(a).expanduser().resolve() for a in args if not a.startswith("-")]
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "ingest-gui"])
    assert isinstance(app, QApplication)
    _dress(app)
    file_opens = FileOpenEvents(app)  # macOS Finder delivers folders as events, not arguments
    app.installEventFilter(file_opens)
    favour_ui_thread()
    try:
        settings = load_settings()
    except IngestError as exc:  # a bad setting: say which, no traceback
        QMessageBox.critical(None, f"{APP_NAME} cannot start", str(exc))
        return 1
    instance = claim(server_name(settings.data_dir), [str(p) for p in paths])
    if instance is None:
        return 0  # the window already open took the folders
    log_file = setup_logging(settings.log_dir)
    reporter = crash.install(settings.log_dir, log_file)
    try:
        services = Services(settings)
    except IngestError as exc:  # e.g. the store is locked by another process
        QMessageBox.critical(None, f"{APP_NAME} cannot start", str(exc))
        instance.close()
        return 1
    log.info("%s %s starting; data folder %s", APP_NAME, __version__, settings.data_dir)

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(services)
    instance.pathsReceived.connect(lambda received: _take_over(window, received))
    file_opens.pathsReceived.connect(lambda received: _take_over(window, received))
    stop_on_signals = _quit_on_signals(window)
    window.show()
    file_opens.release()
    freeze_startup_objects()
    log.info("window open")
    if paths:
        window.add_paths(paths)
    try:
        with loop:
            loop.run_forever()  # returns when the last window closes
            window.shutdown()  # already done by closeEvent; here for any other way out
            loop.run_until_complete(window.tasks.drain())
    finally:
        stop_on_signals()
        instance.close()
        services.close()
        reporter.uninstall()
        log.info("%s shut down cleanly", APP_NAME)
    return 0


def _dress(app: QApplication) -> None:
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    QGuiApplication.setDesktopFileName(APP_ID)  # lets the desktop match the window to its icon
    icon = QIcon()
    for path in icon_files():
        icon.addFile(str(path))
    app.setWindowIcon(icon if not icon.isNull() else app_icon())
    app.setStyleSheet(STYLE_SHEET)


def _take_over(window: MainWindow, received: list[str]) -> None:
    """A second `ingest-gui FOLDER…` handed its folders over: add them, come to the front."""
    window.showNormal()
    window.raise_()
    window.activateWindow()
    window.add_paths([Path(p) for p in received])


def _quit_on_signals(window: MainWindow) -> Callable[[], None]:
    """Ctrl+C or SIGTERM closes the window (jobs cancelled, no question asked)."""
    # Python runs signal handlers only when it holds control; a socket the C-level handler
    # writes to wakes the Qt loop, which then gives Python a turn.
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    old_fd = signal.set_wakeup_fd(writer.fileno())
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, window)

    def drain() -> None:
        with contextlib.suppress(OSError):
            reader.recv(64)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: closing the window", signum)
        window.force_quit = True
        window.close()

    notifier.activated.connect(drain)
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        notifier.setEnabled(False)
        signal.set_wakeup_fd(old_fd)
        for s, handler in old.items():
            signal.signal(s, handler)
        reader.close()
        writer.close()

    return restore
