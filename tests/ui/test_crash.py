"""Unexpected errors from any thread reach one handler: logged, reported, and the app runs on."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from ingest_gui.core.logs import setup_logging
from ingest_gui.crashlog import FAULT_LOG, CrashHandler
from ingest_gui.ui.crash import NO_DIALOG_ENV, CrashDialog, CrashReporter

pytestmark = pytest.mark.qt_no_exception_capture  # these tests own the hooks


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """The app's rotating log, in a temporary folder."""
    path = setup_logging(tmp_path / "logs")
    yield path
    for handler in list(logging.getLogger("ingest_gui").handlers):
        if getattr(handler, "_ingest_gui", False):
            logging.getLogger("ingest_gui").removeHandler(handler)
            handler.close()


@pytest.fixture
def reporter(log_file: Path) -> Iterator[CrashReporter]:
    """A reporter with its hooks installed, no dialog; the old hooks come back after."""
    rep = CrashReporter(log_file, show_dialog=False)
    rep.install()
    yield rep
    rep.uninstall()


def test_worker_thread_exception_is_logged_and_reported(
    qtbot: QtBot, reporter: CrashReporter, log_file: Path
) -> None:
    def work() -> None:
        raise ValueError("boom in a worker")

    worker = threading.Thread(target=work, name="worker-1")
    with qtbot.waitSignal(reporter.reported, timeout=5000) as got:
        worker.start()
        worker.join()
    report = got.args[0]
    assert report.summary == "ValueError: boom in a worker"
    assert report.thread == "worker-1"
    assert "Traceback" in report.details and "boom in a worker" in report.details
    assert str(log_file) in report.details
    text = log_file.read_text(encoding="utf-8")
    assert "unexpected error in worker-1" in text and "ValueError: boom in a worker" in text
    # The app keeps running: the event loop still delivers timers afterwards.
    fired: list[bool] = []
    QTimer.singleShot(0, lambda: fired.append(True))
    qtbot.waitUntil(lambda: fired == [True])


def test_exception_in_a_slot_goes_through_sys_excepthook(
    qtbot: QtBot, reporter: CrashReporter
) -> None:
    def slot() -> None:
        raise RuntimeError("bad slot")

    with qtbot.waitSignal(reporter.reported, timeout=5000) as got:
        QTimer.singleShot(0, slot)
    assert got.args[0].summary == "RuntimeError: bad slot"
    assert got.args[0].thread == "MainThread"


def test_keyboard_interrupt_is_not_a_crash(
    reporter: CrashReporter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reporter.handler.handle(KeyboardInterrupt, KeyboardInterrupt(), None, "MainThread") is None
    assert reporter.handler.count == 0


def test_dialog_shows_details_log_location_and_copies(
    qtbot: QtBot, log_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(NO_DIALOG_ENV, raising=False)
    rep = CrashReporter(log_file, show_dialog=True)
    rep.install()
    try:
        for n in (1, 2):
            threading.Thread(target=_raise, args=(n,), name=f"t{n}").start()
            qtbot.waitUntil(lambda n=n: len(rep.received) == n)
        dialog = rep.dialog
        assert isinstance(dialog, CrashDialog) and dialog.isVisible()
        assert dialog.reports == 2  # one dialog, the second error appended to it
        assert "(and 1 earlier)" in dialog.summary.text()
        details = dialog.details.toPlainText()
        assert "LookupError: error 1" in details and "LookupError: error 2" in details
        dialog.copy_details()
        assert QApplication.clipboard().text() == details
        dialog.close()
        qtbot.waitUntil(lambda: rep.dialog is None)
    finally:
        rep.uninstall()


def test_no_dialog_when_automation_says_so(
    qtbot: QtBot, log_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NO_DIALOG_ENV, "1")
    rep = CrashReporter(log_file, show_dialog=True)
    rep.install()
    try:
        threading.Thread(target=_raise, args=(3,)).start()
        qtbot.waitUntil(lambda: len(rep.received) == 1)
        assert rep.dialog is None
    finally:
        rep.uninstall()


def test_uninstall_restores_the_previous_hooks() -> None:
    before = (sys.excepthook, threading.excepthook)
    handler = CrashHandler(None)
    handler.install()
    assert sys.excepthook == handler.excepthook
    handler.uninstall()
    assert (sys.excepthook, threading.excepthook) == before


def test_faulthandler_writes_a_fatal_crash_to_the_log_folder(tmp_path: Path) -> None:
    code = (
        "import sys, faulthandler\n"
        "from pathlib import Path\n"
        "from ingest_gui.crashlog import enable_faulthandler\n"
        "enable_faulthandler(Path(sys.argv[1]))\n"
        "faulthandler._sigsegv()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True)
    assert proc.returncode != 0
    text = (tmp_path / FAULT_LOG).read_text(encoding="utf-8")
    assert "Fatal Python error" in text and "Segmentation fault" in text


def _raise(n: int) -> None:
    raise LookupError(f"error {n}")
