"""Unexpected errors from any thread reach one handler that logs them (Qt-free).

The window adds a dialog on top (`ingest_gui.ui.crash`); the command line and the
self-test use this alone. `faulthandler` covers what Python cannot catch (a crash in C).
"""

from __future__ import annotations

import datetime
import faulthandler
import logging
import platform
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from ingest_gui import __version__
from ingest_gui.appinfo import is_frozen

log = logging.getLogger(__name__)

FAULT_LOG = "faulthandler.log"
_fault_file: IO[str] | None = None  # kept open: faulthandler writes to its descriptor


@dataclass(frozen=True)
class CrashReport:
    """One unexpected error, ready to log, show and copy."""

    summary: str
    details: str
    thread: str
    log_file: Path | None


def describe(
    kind: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
    thread: str,
    log_file: Path | None,
    extra: dict[str, str] | None = None,
) -> CrashReport:
    """A report with the traceback and the versions a bug report needs."""
    summary = f"{kind.__name__}: {exc}".strip().rstrip(":")
    lines = [
        f"ingest-gui {__version__}{' (bundle)' if is_frozen() else ''}",
        f"Python {platform.python_version()} on {platform.platform()}",
        *(f"{k} {v}" for k, v in (extra or {}).items()),
        f"Thread: {thread}",
        f"Time: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"Log file: {log_file if log_file else 'none'}",
        "",
        "".join(traceback.format_exception(kind, exc, tb)).rstrip(),
    ]
    return CrashReport(summary, "\n".join(lines), thread, log_file)


class CrashHandler:
    """Installs sys.excepthook and threading.excepthook; logs, then calls `on_report`."""

    def __init__(
        self,
        log_file: Path | None,
        on_report: Callable[[CrashReport], None] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.log_file = log_file
        self.on_report = on_report
        self.extra = extra or {}
        self.count = 0
        self._previous: tuple[object, object] | None = None

    def install(self) -> None:
        """Route uncaught exceptions of every thread here (idempotent)."""
        if self._previous is None:
            self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_excepthook

    def uninstall(self) -> None:
        """Put back the hooks found at install time."""
        if self._previous is not None:
            sys.excepthook, threading.excepthook = self._previous  # type: ignore[assignment]
            self._previous = None

    def excepthook(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        """sys.excepthook: the main thread and Qt slots."""
        self.handle(kind, exc, tb, threading.current_thread().name)

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        """threading.excepthook: any other Python thread."""
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "unknown thread"
        self.handle(args.exc_type, args.exc_value, args.exc_traceback, name)

    def handle(
        self,
        kind: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
        thread: str,
    ) -> CrashReport | None:
        """Log one error and pass it on; returns the report (None for Ctrl+C)."""
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)  # Ctrl+C is a request, not a bug
            return None
        try:
            report = describe(kind, exc, tb, thread, self.log_file, self.extra)
            self.count += 1
            log.error("unexpected error in %s", thread, exc_info=(kind, exc, tb))
            if self.on_report is not None:
                self.on_report(report)
            return report
        except Exception:  # the handler must never raise into the failing code
            sys.__excepthook__(kind, exc, tb)
            return None


def enable_faulthandler(log_dir: Path) -> Path:
    """Dump every thread's stack to <log_dir>/faulthandler.log on a fatal signal."""
    global _fault_file
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / FAULT_LOG
    if _fault_file is not None and not _fault_file.closed:
        if Path(_fault_file.name) == path:
            return path
        faulthandler.disable()
        _fault_file.close()
    _fault_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - must outlive this call
    faulthandler.enable(file=_fault_file, all_threads=True)
    return path
