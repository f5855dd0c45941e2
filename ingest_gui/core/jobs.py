"""The job model: state, counters, per-file errors and the progress events the core emits."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


class FileStatus(str, Enum):
    INGESTED = "ingested"
    CACHED = "cached"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True)
class FileError:
    """Why one file failed, and at which stage (scan, read, hash, decode, inference, store)."""

    path: str
    stage: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "stage": self.stage, "reason": self.reason}


@dataclass(frozen=True)
class Counters:
    """How many files ended in each state, out of the total found."""

    total: int = 0
    ingested: int = 0
    cached: int = 0
    unchanged: int = 0
    failed: int = 0

    @property
    def done(self) -> int:
        return self.ingested + self.cached + self.unchanged + self.failed

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else min(1.0, self.done / self.total)

    def add(self, status: FileStatus, n: int = 1) -> Counters:
        return replace(self, **{status.value: getattr(self, status.value) + n})


@dataclass(frozen=True)
class ProgressEvent:
    """What the pipeline reports; the CLI prints it, the Qt worker turns it into a signal."""

    job_id: str
    kind: str  # "started", "scanned", "progress", "finished"
    state: JobState
    counters: Counters
    path: str | None = None
    error: FileError | None = None
    message: str | None = None


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class Job:
    """One ingestion of some folders into one collection."""

    folders: list[Path]
    collection: str
    backend: str | None = None  # None: the collection's own backend
    caption: bool = True
    follow_symlinks: bool = False  # follow symbolic links that lead out of the folders
    prune_missing: bool = True  # files gone from disk leave the collection (else only listed)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: JobState = JobState.QUEUED
    counters: Counters = field(default_factory=Counters)
    errors: list[FileError] = field(default_factory=list)
    message: str | None = None  # why the job failed as a whole
    missing: list[str] = field(default_factory=list)  # indexed files no longer on disk
    removed: int = 0  # how many of those left the collection
    started_at: float | None = None
    finished_at: float | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        """Ask the job to stop; the pipeline checks between files and batches."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def elapsed_s(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.time()) - self.started_at

    def summary(self) -> dict[str, Any]:
        """The CLI's --json object."""
        c = self.counters
        return {
            "job_id": self.id,
            "status": self.state.value,
            "collection": self.collection,
            "total_files": c.total,
            "ingested": c.ingested,
            "cached": c.cached,
            "unchanged": c.unchanged,
            "failed": c.failed,
            "errors": [e.to_dict() for e in self.errors],
            "message": self.message,
            "missing": self.missing[:1000],
            "removed": self.removed,
            "elapsed_s": round(self.elapsed_s, 3),
        }
