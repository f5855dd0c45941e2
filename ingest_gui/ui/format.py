"""Numbers for people: counts, rates, durations, and a rate meter over a sliding window."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from ingest_gui.core.jobs import Counters, Job, JobState


def count(n: int) -> str:
    """1234567 -> '1,234,567'."""
    return f"{n:,}"


def duration(seconds: float) -> str:
    """A duration as '0.4 s', '12 s', 'm:ss' or 'h:mm:ss'."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    if seconds < 59.5:
        return f"{round(seconds)} s"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def counts_text(c: Counters) -> str:
    """'120 of 500 — 100 ingested · 10 cached · 8 unchanged · 2 failed'."""
    parts = [
        f"{count(c.ingested)} ingested",
        f"{count(c.cached)} cached",
        f"{count(c.unchanged)} unchanged",
        f"{count(c.failed)} failed",
    ]
    return f"{count(c.done)} of {count(c.total)} — " + " · ".join(parts)


def state_text(job: Job) -> str:
    """The job's state as a short phrase."""
    state, c = job.state, job.counters
    if state is JobState.RUNNING and c.total == 0 and c.done == 0:
        return "Scanning…"
    if state is JobState.COMPLETED and c.failed:
        return f"Completed, {count(c.failed)} failed"
    if state is JobState.COMPLETED and c.total == 0:
        return "Completed: no images found"
    return state.value.capitalize()


class RateMeter:
    """Files per second over the last few seconds, and the time left at that pace."""

    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, done: int) -> None:
        """Record how many files are done now."""
        now = self._clock()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window_s:
            self._samples.popleft()

    def rate(self) -> float | None:
        """Files per second, or None until there is enough to tell."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        # Measured up to now, not the last sample, so a stalled job shows its rate falling.
        span = max(self._clock(), t1) - t0
        return (d1 - d0) / span if span > 0.2 else None

    def eta_s(self, remaining: int) -> float | None:
        """Seconds until `remaining` more files are done at the current rate."""
        r = self.rate()
        if r is None or r <= 0:
            return None
        return remaining / r
