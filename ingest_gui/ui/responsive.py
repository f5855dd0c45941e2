"""Keeping the UI thread first in line while jobs keep every core busy.

Jobs run Python on several threads (prepare, inference, store); each holds the GIL for up
to the interpreter's switch interval before another thread gets a turn, and a full garbage
collection holds it from start to end, whichever thread triggers it. The UI thread needs
the GIL for every slot and every overridden Qt virtual, so it waits behind all of that.
Three levers, each measured with bench/bench_ui_stall.py: a shorter switch interval; the
start-up objects (Qt, qdrant, numpy modules: ~140,000) frozen out of the collector, which
took a full collection from ~95 ms to a few ms; and a lower OS priority for job threads.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QThread

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.001  # Python's default is 5 ms
JOB_NICE = 10  # Linux niceness of a job's threads (the pipeline's own threads inherit it)


def favour_ui_thread() -> None:
    """Shorten the GIL switch interval for this (window) process; the CLI keeps the default."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def freeze_startup_objects() -> None:
    """Move everything alive now (modules, the window) out of the collector's reach.

    Call once, with the window built: these objects live as long as the process, and a
    full collection no longer walks them while holding the GIL.
    """
    gc.collect()
    gc.freeze()
    log.debug("froze %d start-up objects out of the garbage collector", gc.get_freeze_count())


@contextmanager
def yielding_to_ui() -> Iterator[None]:
    """Run the block (a job) at a lower OS priority, so the UI thread wins the CPU."""
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        # Qt ignores thread priorities on Linux; niceness is per thread there, and threads
        # started from this one (the pipeline's prepare and inference pools) inherit it.
        tid = threading.get_native_id()
        before = _nice(tid)
        if before is not None and before < JOB_NICE:
            _set_nice(tid, JOB_NICE)
        try:
            yield
        finally:
            # The pool reuses this thread for quick tasks; raising the priority back needs
            # a privilege most users lack, so a failure here is expected and harmless.
            if before is not None and before < JOB_NICE:
                _set_nice(tid, before)
        return
    thread = QThread.currentThread()
    if thread is None:
        yield
        return
    before_priority = thread.priority()
    thread.setPriority(QThread.Priority.LowPriority)
    try:
        yield
    finally:
        thread.setPriority(before_priority)


def _nice(tid: int) -> int | None:
    try:
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:
        return None


def _set_nice(tid: int, value: int) -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, tid, value)
    except OSError as exc:
        log.debug("cannot set the job thread's priority to %d: %s", value, exc)
