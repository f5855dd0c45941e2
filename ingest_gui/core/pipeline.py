"""The ingestion pipeline: scan, stat, hash, cache, prepare, infer in batches, upsert in batches.

Preparation (hash, metadata, decode+downscale) runs on a small thread pool a bounded window
ahead of the job thread; several inference batches may be in flight. All accounting happens
on the job's own thread, so counters need no lock and memory stays bounded by the windows.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from ingest_gui.core.cache import CachedResult
from ingest_gui.core.errors import (
    CollectionError,
    FileProblem,
    IngestError,
    ModelMismatchError,
    ServiceUnavailableError,
)
from ingest_gui.core.file_index import FileRecord
from ingest_gui.core.hashing import sha256_file
from ingest_gui.core.imaging import load_prepared
from ingest_gui.core.inference.base import ImageInput, InferenceBackend, InferenceResult
from ingest_gui.core.jobs import (
    Counters,
    FileError,
    FileStatus,
    Job,
    JobState,
    ProgressCallback,
    ProgressEvent,
)
from ingest_gui.core.metadata import ImageMetadata, read_metadata
from ingest_gui.core.points import build_payload, point_id
from ingest_gui.core.pruning import detach_paths, find_missing, remove_paths
from ingest_gui.core.reasons import describe_error
from ingest_gui.core.scanning import ScanEntry, check_roots, display_path, scan_paths
from ingest_gui.core.services import Services
from ingest_gui.core.store import CollectionInfo, PointData

log = logging.getLogger(__name__)
_T = TypeVar("_T")

PREP_WORKERS = max(2, min(4, os.cpu_count() or 2))
MODEL_SIDE = 384  # the models take ~224-384 px; nothing larger is decoded or sent
POLL_S = 0.1  # how often a wait on a slow batch looks at the cancel flag


@dataclass
class _Prepared:
    path: Path
    st: os.stat_result
    sha256: str
    meta: ImageMetadata
    cached: CachedResult | None = None
    image: Image.Image | None = None
    before: str | None = None  # the content hash the collection held for this path


@dataclass
class _Staged:
    point: PointData
    files: list[tuple[str, FileStatus, FileRecord]] = field(default_factory=list)


class _Cancelled(Exception):
    """The job was cancelled before its main loop began."""


class _Skip(Exception):
    """A file that is unchanged since the collection last saw it."""


class JobRun:
    """Runs one Job to its end; `run_job` is the front door."""

    def __init__(self, services: Services, job: Job, on_event: ProgressCallback | None) -> None:
        self.s = services
        self.job = job
        self.on_event = on_event or (lambda _e: None)
        self.settings = services.settings
        self.backend: InferenceBackend | None = None
        self.model = ""
        self.staged: dict[str, _Staged] = {}
        self.replaced: dict[str, str] = {}  # path -> sha256 it held before its content changed
        self.service_down: str | None = None  # set when the ML service stops answering

    # outer frame -----------------------------------------------------------------------
    def run(self) -> Job:
        job = self.job
        job.state, job.started_at = JobState.RUNNING, time.time()
        self._emit("started")
        try:
            check_roots(job.folders)
            info = self.s.store.info(job.collection)
            self._bind_backend(info)
            entries = self._scan()
            job.counters = Counters(total=len(entries))
            self._emit("scanned")
            self._process(entries)
            if not job.cancelled:
                self._vanished(entries)
            job.state = JobState.CANCELLED if job.cancelled else JobState.COMPLETED
            if self.service_down and not job.message:
                job.message = (
                    f"the ML service stopped answering during the job ({self.service_down}); "
                    "the files it did not embed are listed as failed and a new run retries them"
                )
        except _Cancelled:
            job.state = JobState.CANCELLED
        except IngestError as exc:
            job.state, job.message = JobState.FAILED, str(exc)
        except Exception as exc:  # a bug must still end the job readably, never hang it
            log.exception("job %s failed unexpectedly", job.id)
            job.state, job.message = JobState.FAILED, f"unexpected error: {describe_error(exc)}"
        finally:
            job.finished_at = time.time()
            log.info("job %s %s: %s", job.id, job.state.value, job.counters)
            self._emit("finished", message=job.message)
        return job

    def _vanished(self, entries: list[ScanEntry]) -> None:
        """Files the collection holds under these folders that are no longer on disk."""
        seen = {display_path(os.path.abspath(e.path)) for e in entries}
        missing = find_missing(self.s, self.job.collection, self.job.folders, seen)
        self.job.missing = sorted(missing)
        if missing and self.job.prune_missing:
            self.job.removed = remove_paths(self.s, self.job.collection, missing)

    def _scan(self) -> list[ScanEntry]:
        """Every file to account for; links out of the folders only when the job says so."""
        job = self.job
        skip = [self.settings.data_dir]
        entries: list[ScanEntry] = []
        for entry in scan_paths(job.folders, skip_dirs=skip, follow_outside=job.follow_symlinks):
            entries.append(entry)
            if len(entries) % 256 == 0 and job.cancelled:
                break  # a huge folder must not delay a cancel until its listing ends
        return entries

    def _bind_backend(self, info: CollectionInfo) -> None:
        kind = self.job.backend or info.backend or self.settings.backend
        if info.backend and kind != info.backend:
            raise ModelMismatchError(
                f"collection {info.name!r} holds vectors of the {info.backend} backend "
                f"({info.model or 'model not yet known'}); ingesting with {kind} would mix models"
            )
        self.backend = self.s.backend(kind, info.vector_size)
        self.model = self._connect(self.backend)  # for http this connects, or fails clearly
        if info.model and info.model != self.model:
            raise ModelMismatchError(
                f"collection {info.name!r} was filled by model {info.model}; "
                f"the {kind} backend now serves {self.model}, so its vectors would not compare"
            )
        if not info.model:
            self.s.store.set_model(info.name, kind, self.model)

    # main loop -------------------------------------------------------------------------
    def _process(self, entries: list[ScanEntry]) -> None:
        batch_size = self.settings.ml_batch_size
        window = max(2 * batch_size, 4 * PREP_WORKERS)
        in_flight_max = self.settings.ml_max_in_flight
        prep_q: deque[tuple[Path, Future[_Prepared]]] = deque()
        infer_q: deque[tuple[Future[list[InferenceResult]], list[_Prepared]]] = deque()
        batch: list[_Prepared] = []
        todo = iter(entries)
        prep = ThreadPoolExecutor(PREP_WORKERS, thread_name_prefix=f"prep-{self.job.id}")
        infer = ThreadPoolExecutor(in_flight_max, thread_name_prefix=f"infer-{self.job.id}")
        try:
            while not self.job.cancelled:
                self._fill(prep, prep_q, todo, window)
                if not prep_q:
                    break
                path, fut = prep_q.popleft()
                item = self._take(path, fut)
                if item is None:
                    continue
                if item.cached is not None:
                    self._stage(item, item.cached.embedding, item.cached.caption, FileStatus.CACHED)
                    self.s.cache.mark_used(self.job.collection, self.model, item.sha256)
                    continue
                batch.append(item)
                if len(batch) >= batch_size:
                    self._submit(infer, infer_q, batch, in_flight_max)
                    batch = []
                while infer_q and infer_q[0][0].done():
                    self._collect(*infer_q.popleft())
            if batch and not self.job.cancelled:
                self._submit(infer, infer_q, batch, in_flight_max)
            while infer_q and not self.job.cancelled:
                self._collect(*infer_q.popleft())
            self._flush()  # what was done before a cancel is kept
        finally:
            # A cancel must not wait for a slow service: abandon queued work.
            prep.shutdown(wait=not self.job.cancelled, cancel_futures=True)
            infer.shutdown(wait=False, cancel_futures=True)

    def _fill(
        self,
        pool: ThreadPoolExecutor,
        queue: deque[tuple[Path, Future[_Prepared]]],
        todo: Iterator[ScanEntry],
        window: int,
    ) -> None:
        while len(queue) < window:
            entry = next(todo, None)
            if entry is None:
                return
            if entry.problem:
                self._fail(str(entry.path), "scan", entry.problem)
                continue
            queue.append((entry.path, pool.submit(self._prepare, entry.path)))

    def _take(self, path: Path, fut: Future[_Prepared]) -> _Prepared | None:
        if not self._wait(fut):
            return None  # cancelled: the file is left for the next run, not counted
        try:
            return fut.result()
        except _Skip:
            self._count(str(path), FileStatus.UNCHANGED)
        except FileProblem as exc:
            self._fail(str(path), exc.stage, exc.reason)
        except Exception as exc:
            log.exception("preparing %s failed", path)
            self._fail(str(path), "prepare", describe_error(exc))
        return None

    # per file, on the prep pool ----------------------------------------------------------
    def _prepare(self, path: Path) -> _Prepared:
        st = _stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise FileProblem("read", "not a regular file (a pipe, socket or device)")
        key = os.path.abspath(path)
        known = self.s.cache.get_file(self.job.collection, key)
        if known and known.size == st.st_size and known.mtime_ns == st.st_mtime_ns:
            raise _Skip()
        before = known.sha256 if known else None
        if st.st_size == 0:
            raise FileProblem("read", "empty file (0 bytes)")
        sha = _at_stage("hash", sha256_file, path)
        cached = self.s.cache.get(self.model, sha)
        meta = self._metadata(path, st, sha)
        if cached is not None and (cached.caption is not None or not self.job.caption):
            return _Prepared(path, st, sha, meta, cached=cached, before=before)
        image = _decode(path, meta.format)
        after = _stat(path)
        if (after.st_mtime_ns, after.st_size) != (st.st_mtime_ns, st.st_size):
            raise FileProblem("read", "file changed while it was being read; run again to pick it up")
        return _Prepared(path, st, sha, meta, image=image, before=before)

    def _metadata(self, path: Path, st: os.stat_result, sha: str) -> ImageMetadata:
        """EXIF depends only on the bytes: reuse what was read before, refresh the file facts."""
        known = self.s.cache.get_metadata(sha)
        if known is not None:
            try:
                return ImageMetadata(**(known | {"file_size": st.st_size, "mtime": st.st_mtime}))
            except TypeError:
                pass  # written by an older version with other fields: read again
        meta = _at_stage("metadata", read_metadata, path, st)
        self.s.cache.put_metadata(sha, meta.to_payload())
        return meta

    # inference ---------------------------------------------------------------------------
    def _submit(
        self,
        pool: ThreadPoolExecutor,
        queue: deque[tuple[Future[list[InferenceResult]], list[_Prepared]]],
        batch: list[_Prepared],
        limit: int,
    ) -> None:
        while len(queue) >= limit and not self.job.cancelled:
            self._collect(*queue.popleft())
        if self.job.cancelled:
            return
        if self.service_down:
            # The service is gone: failing fast beats a full retry cycle for every batch.
            for item in batch:
                self._fail(str(item.path), "inference", f"not sent: {self.service_down}")
            return
        assert self.backend is not None
        inputs = [
            ImageInput(item.sha256, display_path(item.path.name), item.image, item.meta)
            for item in batch
            if item.image is not None
        ]
        queue.append((pool.submit(self.backend.embed_images, inputs, self.job.caption), batch))

    def _collect(self, fut: Future[list[InferenceResult]], batch: list[_Prepared]) -> None:
        if not self._wait(fut):
            return  # cancelled while the batch was in flight: abandoned, not counted
        try:
            results = fut.result()
        except ServiceUnavailableError as exc:
            self._check_service(exc)
            for item in batch:
                self._fail(str(item.path), "inference", str(exc))
            return
        except IngestError as exc:
            for item in batch:
                self._fail(str(item.path), "inference", str(exc))
            return
        except Exception as exc:
            log.exception("inference batch failed")
            for item in batch:
                self._fail(str(item.path), "inference", describe_error(exc))
            return
        for item, res in zip(batch, results, strict=False):
            item.image = None  # free pixels as soon as the batch is answered
            if res.error or res.embedding is None:
                self._fail(str(item.path), "inference", res.error or "no embedding returned")
                continue
            if res.model and res.model != self.model:
                raise ModelMismatchError(
                    f"the inference service switched to model {res.model} during the job "
                    f"(the collection holds {self.model}); stopped to avoid mixing vectors"
                )
            caption = res.caption if self.job.caption else None
            self.s.cache.put(self.model, item.sha256, res.embedding, caption, self.job.collection)
            self._stage(item, res.embedding, res.caption, FileStatus.INGESTED)
        for item in batch[len(results) :]:
            self._fail(str(item.path), "inference", "the service returned fewer results than sent")

    def _check_service(self, exc: ServiceUnavailableError) -> None:
        """After a batch gave up: if the service is down too, stop sending it batches."""
        assert self.backend is not None
        if self.service_down is None and not self.backend.health().ok:
            self.service_down = str(exc)
            log.warning("job %s: ML service down, not sending more batches: %s", self.job.id, exc)

    def _connect(self, backend: InferenceBackend) -> str:
        """The backend's model name; a slow service's probe must not hold up a cancel."""
        pool = ThreadPoolExecutor(1, thread_name_prefix=f"connect-{self.job.id}")
        try:
            fut = pool.submit(lambda: backend.model_name)
            if not self._wait(fut):
                raise _Cancelled()
            return fut.result()
        finally:
            pool.shutdown(wait=False)

    def _wait(self, fut: Future[Any]) -> bool:
        """Wait for a future, looking at the cancel flag; False when the job was cancelled."""
        while not fut.done():
            if self.job.cancelled:
                return False
            wait([fut], timeout=POLL_S)
        return True

    # points ----------------------------------------------------------------------------
    def _stage(
        self, item: _Prepared, embedding: list[float], caption: str | None, status: FileStatus
    ) -> None:
        pid = point_id(item.sha256)
        key = os.path.abspath(item.path)
        record = FileRecord(item.st.st_size, item.st.st_mtime_ns, item.sha256)
        staged = self.staged.get(pid)
        if staged is None:
            payload = build_payload(item.sha256, Path(key), item.meta, caption, self.model)
            staged = _Staged(PointData(pid, list(embedding), payload))
            self.staged[pid] = staged
        elif display_path(key) not in staged.point.payload["paths"]:
            staged.point.payload["paths"].append(display_path(key))  # same bytes, second path
        staged.files.append((key, status, record))
        if item.before and item.before != item.sha256:
            self.replaced[display_path(key)] = item.before
        if len(self.staged) >= self.settings.upsert_batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self.staged:
            return
        staged, self.staged = list(self.staged.values()), {}
        name = self.job.collection
        records = {path: rec for st in staged for path, _s, rec in st.files}
        try:
            # The file index is written under the store's lock, right after the points:
            # a concurrent delete of the collection then sees both or neither.
            self.s.store.merge_upsert(
                name, [st.point for st in staged],
                after=lambda: self.s.cache.set_files(name, records),
            )
        except CollectionError as exc:
            self._forget_deleted(name)
            raise CollectionError(f"{exc} (it was deleted while the job was writing)") from exc
        except IngestError as exc:
            for st in staged:
                for path, _status, _rec in st.files:
                    self._fail(path, "store", str(exc))
            return
        self._detach_replaced()
        for st in staged:
            for path, status, _rec in st.files:
                self._count(path, status)

    def _detach_replaced(self) -> None:
        """A file whose content changed no longer belongs to the point of its old content."""
        if not self.replaced:
            return
        replaced, self.replaced = self.replaced, {}
        try:
            detach_paths(self.s, self.job.collection, replaced)
        except IngestError as exc:
            log.warning("could not detach changed files from their old points: %s", exc)

    def _forget_deleted(self, name: str) -> None:
        """Drop what this job cached for a collection deleted under it (no half state)."""
        try:
            if not self.s.store.exists(name):
                self.s.cache.drop_collection(name)
        except IngestError as exc:
            log.warning("could not tidy the cache of deleted collection %s: %s", name, exc)

    # accounting ------------------------------------------------------------------------
    def _count(self, path: str, status: FileStatus) -> None:
        self.job.counters = self.job.counters.add(status)
        self._emit("progress", path=display_path(path))

    def _fail(self, path: str, stage: str, reason: str) -> None:
        path = display_path(path)  # shown, logged and written as JSON: must be valid UTF-8
        error = FileError(path, stage, reason)
        self.job.errors.append(error)
        self.job.counters = self.job.counters.add(FileStatus.FAILED)
        log.info("failed %s at %s: %s", path, stage, reason)
        self._emit("progress", path=path, error=error)

    def _emit(
        self, kind: str, path: str | None = None, error: FileError | None = None,
        message: str | None = None,
    ) -> None:
        event = ProgressEvent(
            self.job.id, kind, self.job.state, self.job.counters, path, error, message
        )
        try:
            self.on_event(event)
        except Exception:  # a broken listener must not break ingestion
            log.exception("progress callback failed")


def run_job(services: Services, job: Job, on_event: ProgressCallback | None = None) -> Job:
    """Run a job to its end on the calling thread; never raises for per-file problems."""
    return JobRun(services, job, on_event).run()


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise FileProblem("read", "file vanished before it could be read") from None
    except OSError as exc:
        raise FileProblem("read", describe_error(exc)) from None


def _decode(path: Path, image_format: str | None) -> Image.Image:
    """Decode and downscale; a failure names the format ("truncated JPEG (...)")."""
    try:
        return load_prepared(path, MODEL_SIDE)
    except FileProblem:
        raise
    except Exception as exc:
        raise FileProblem("decode", describe_error(exc, image_format)) from None


def _at_stage(stage: str, fn: Callable[..., _T], *args: Any) -> _T:
    """Run one step for a file; any failure becomes a FileProblem naming the stage."""
    try:
        return fn(*args)
    except FileProblem:
        raise
    except Exception as exc:
        raise FileProblem(stage, describe_error(exc)) from None
