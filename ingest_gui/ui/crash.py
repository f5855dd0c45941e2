"""The crash dialog: unexpected errors from any thread, shown on the GUI thread with copyable details.

`install()` is the one call app.py makes: faulthandler to a file under the log folder,
sys.excepthook and threading.excepthook into `ingest_gui.crashlog.CrashHandler` (which
logs), and a queued signal that brings each report to the GUI thread for the dialog.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import PySide6
from PySide6.QtCore import QObject, Qt, QUrl, Signal, qVersion
from PySide6.QtGui import QDesktopServices, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ingest_gui.appinfo import APP_NAME
from ingest_gui.crashlog import CrashHandler, CrashReport, enable_faulthandler

log = logging.getLogger(__name__)

NO_DIALOG_ENV = "INGEST_GUI_NO_CRASH_DIALOG"  # set by tests and automation
MAX_REPORTS_SHOWN = 10  # a loop of failures must not grow the dialog forever; all are logged


def open_log_folder(log_dir: Path) -> bool:
    """Open the log folder in the file manager (Help ▸ Open log folder)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir)))


class CrashDialog(QDialog):
    """What went wrong, where the log is, and the details to copy; more reports append."""

    def __init__(self, report: CrashReport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Unexpected error — {APP_NAME}")
        self.setMinimumSize(560, 360)
        self.reports = 0
        where = report.log_file or "not written (no log folder)"
        intro = QLabel(
            f"Something went wrong that {APP_NAME} did not expect. It has been written to "
            f"the log and the window keeps running.<br>Log file: <code>{where}</code>"
        )
        intro.setWordWrap(True)
        intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-weight: bold")
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setFont(QFont("monospace"))
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy details")
        copy.clicked.connect(self.copy_details)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        if report.log_file is not None:
            folder = QPushButton("Open log folder")
            folder.clicked.connect(lambda: open_log_folder(Path(report.log_file or ".").parent))
            buttons.addButton(folder, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.summary)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)
        self.add(report)

    def add(self, report: CrashReport) -> None:
        """Show one more report (the newest summary on top, every traceback below)."""
        self.reports += 1
        more = f" (and {self.reports - 1} earlier)" if self.reports > 1 else ""
        self.summary.setText(report.summary + more)
        if self.reports > 1:
            self.details.appendPlainText("\n" + "-" * 60 + "\n")
        self.details.appendPlainText(report.details)

    def copy_details(self) -> None:
        """Put every report's details on the clipboard."""
        QGuiApplication.clipboard().setText(self.details.toPlainText())


class CrashReporter(QObject):
    """Receives reports from any thread; shows them in one dialog on the GUI thread."""

    reported = Signal(object)  # CrashReport, delivered on the GUI thread

    def __init__(
        self,
        log_file: Path | None,
        show_dialog: bool = True,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        extra = {"Qt": qVersion(), "PySide6": PySide6.__version__}
        self.handler = CrashHandler(log_file, self._from_any_thread, extra)
        self.show_dialog = show_dialog and not os.environ.get(NO_DIALOG_ENV)
        self.dialog: CrashDialog | None = None
        self.received: list[CrashReport] = []
        # Queued even on the GUI thread: the error may come from inside a paint or a
        # layout, where opening a dialog at once would re-enter half-done work.
        self.reported.connect(self._on_reported, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        """Route sys.excepthook and threading.excepthook here."""
        self.handler.install()

    def uninstall(self) -> None:
        """Restore the previous hooks (tests, shutdown)."""
        self.handler.uninstall()

    def _from_any_thread(self, report: CrashReport) -> None:
        self.reported.emit(report)

    def _on_reported(self, report: CrashReport) -> None:
        self.received.append(report)
        if not self.show_dialog or len(self.received) > MAX_REPORTS_SHOWN:
            return
        if self.dialog is None:
            self.dialog = CrashDialog(report, QApplication.activeWindow())
            self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.dialog.destroyed.connect(lambda: setattr(self, "dialog", None))
            self.dialog.show()
        else:
            self.dialog.add(report)
        self.dialog.raise_()


def install(log_dir: Path, log_file: Path | None, show_dialog: bool = True) -> CrashReporter:
    """faulthandler into log_dir, both exception hooks into one reporter; keep the result."""
    fault_log = enable_faulthandler(log_dir)
    reporter = CrashReporter(log_file, show_dialog)
    reporter.install()
    log.info("crash handler installed; fatal errors go to %s", fault_log)
    return reporter
