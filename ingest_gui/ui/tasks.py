"""Blocking core calls on the window's QThreadPool, awaited from qasync coroutines."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QRunnable, QThreadPool

log = logging.getLogger(__name__)

T = TypeVar("T")

# Short tasks jump ahead of queued jobs, so a click never waits for an ingestion to end.
SHORT_TASK_PRIORITY = 1


class _Call(QRunnable):
    """Runs one callable on a pool thread and settles a concurrent future with its outcome."""

    def __init__(self, future: concurrent.futures.Future[Any], fn: Callable[..., Any],
                 args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self._future, self._fn, self._args, self._kwargs = future, fn, args, kwargs

    def run(self) -> None:
        if not self._future.set_running_or_notify_cancel():
            return
        try:
            result = self._fn(*self._args, **self._kwargs)
        except BaseException as exc:  # handed to the awaiting coroutine, which decides
            self._future.set_exception(exc)
        else:
            self._future.set_result(result)


class PoolExecutor(concurrent.futures.Executor):
    """A concurrent.futures executor over a QThreadPool, for `loop.run_in_executor`."""

    def __init__(self, pool: QThreadPool, priority: int = SHORT_TASK_PRIORITY) -> None:
        self._pool = pool
        self._priority = priority
        self._closed = False
        self._lock = threading.Lock()

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the window is shutting down")
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            self._pool.start(_Call(future, fn, args, kwargs), self._priority)
            return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
        if wait:
            self._pool.waitForDone()


class Tasks:
    """The window's asyncio tasks and its blocking calls; everything is cancelled on close."""

    def __init__(self, pool: QThreadPool) -> None:
        self.executor = PoolExecutor(pool)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call (file, network, database) on the pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start a coroutine on the qasync loop and keep it until it ends."""
        task = asyncio.ensure_future(coro)
        if self._closed:
            task.cancel()  # a late signal after close: the coroutine never starts
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def cancel_all(self) -> None:
        """Stop accepting work and cancel every task (they end on the next loop turns)."""
        self._closed = True
        self.executor.shutdown(wait=False)
        for task in list(self._tasks):
            task.cancel()

    async def drain(self) -> None:
        """Wait until every cancelled task has ended."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            # Coroutines handle the errors a person can act on; anything here is a bug,
            # so it goes to the one handler of unexpected errors.
            sys.excepthook(type(exc), exc, exc.__traceback__)
