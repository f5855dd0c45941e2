"""The embedded vector store: one Qdrant Edge shard per collection, inside this process.

Same public methods, semantics and errors as `VectorStore` (qdrant-client), which still
serves a Qdrant server. qdrant-client's own embedded mode is a pure-Python engine: 71 ms a
search and 6 s to open at 50,000 points. Edge is the Qdrant engine itself.

Layout under `<data dir>/qdrant-edge/`::

    .lock                  held (flock / msvcrt) for the store's lifetime: one process only
    .owner.json            who holds the lock, for the error a second process shows
    <name>/collection.json vector size, distance, backend, model, created_at (atomic writes)
    <name>/shard/          the EdgeShard (segments, WAL, edge_config.json)
    <name>/.build-<hex>/   a copy being indexed by a child process (transient)
    <name>/shard.old/      the previous shard while a finished build is swapped in (transient)

Durability: a write is in Edge's write-ahead log (on by default) when it returns, so it
survives a crash or kill -9 (tested); the shard is flushed (msync + fsync) by a maintenance
thread once writes pause for `FLUSH_QUIET_S` (or after a minute of writes), before an index
build, and on close. Flushing after
every write (`fsync_each_write=True`) also survives power loss, but each flush holds the GIL
for its whole fsync: 4-20 ms on average per 32 points here, up to ~90 ms, against 0.45 ms
for the write itself, which would show as stalls in the window during ingestion.

Index: no HNSW graph (m=0) but int8 scalar quantization, kept memory-mapped ("Cold"): a
search scans the int8 copies of all vectors and rescores the best `OVERSAMPLING` x limit
with the float vectors. At 100,000 x 512 that is ~2.5 ms a search with the exact top 10
even on random vectors (HNSW m=16: 1.4 ms but recall@10 of 0.1 on random vectors, and 77 s
to build against ~1.5 s), and opening stays ~0.1 s (quantized data loaded into RAM: ~1 s).
New points land in an unindexed segment searched exactly (float32: ~0.8 ms per 10,000).

Index builds: Edge never optimizes on its own, and `EdgeShard.optimize()` holds the GIL for
its whole run, which would freeze the window. So once a collection holds `index_after`
points not yet indexed, a background thread copies the shard (writes wait during the copy,
reads go on), a child process (multiprocessing, spawn) optimizes the copy, and the copy is
swapped in after the writes made meanwhile are replayed onto it, most of them while the
collection stays usable. While points arrive faster than a replay could follow, builds wait
for a pause in writes.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeOptimizersConfig,
    EdgeShard,
    EdgeVectorParams,
    HnswIndexConfig,
    Memory,
    PayloadSelector,
    Point,
    QuantizationSearchParams,
    Query,
    QueryRequest,
    ScalarQuantizationConfig,
    ScalarType,
    ScrollRequest,
    SearchParams,
    UpdateOperation,
)

from ingest_gui.core import folder_lock
from ingest_gui.core.errors import CollectionError, StoreError
from ingest_gui.core.settings import DISTANCES, Settings, read_json, write_json_atomic
from ingest_gui.core.store import (
    CollectionInfo,
    Hit,
    PointData,
    json_safe,
    merged_payload,
    validate_name,
)

log = logging.getLogger(__name__)

META_FILE = "collection.json"
SHARD_DIR = "shard"
OLD_DIR = "shard.old"
BUILD_PREFIX = ".build-"
TRASH_PREFIX = ".trash-"
META_FORMAT = 1
INDEX_AFTER = 10_000  # unindexed points that start a background index build
QUIET_S = 1.0  # no write for this long: a build that waited for a pause may start
FLUSH_QUIET_S = 5.0  # no write for this long: flush (longer than a job's gaps between batches)
FLUSH_EVERY_S = 60.0  # written for this long without a pause: flush anyway
BURST_RATE = 500.0  # points/s above which builds wait for a pause (replay runs ~2,000/s)
MAX_LOCKED_REPLAY = 1024  # more writes than this to replay under the lock: give the build up
TICK_S = 0.5  # how often the maintenance thread looks
OVERSAMPLING = 3.0  # candidates rescored with the float vectors, per result asked for
REPLAY_BATCH = 256
_SEARCH = SearchParams(quantization=QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING))
_EDGE_DISTANCE = {"Cosine": Distance.Cosine, "Dot": Distance.Dot, "Euclid": Distance.Euclid}


def edge_path(settings: Settings) -> Path:
    """Where the embedded store lives: `<data dir>/qdrant-edge`."""
    return settings.edge_path


@dataclass
class _Build:
    """One background index build of one collection."""

    folder: Path
    thread: threading.Thread | None = None
    process: Any = None  # multiprocessing.process.BaseProcess once started
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.perf_counter)
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step, for the log


class _Collection:
    """An open collection: its shard, metadata and the lock every use of it takes."""

    def __init__(self, name: str, folder: Path, meta: dict[str, Any], shard: EdgeShard) -> None:
        self.name = name
        self.folder = folder
        self.meta = meta
        self.shard: EdgeShard | None = shard
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.closed = False  # deleted, or the store closed
        self.writes_paused = False  # a build is copying the shard
        self.touched: set[str] | None = None  # ids written since the build's copy
        self.build: _Build | None = None
        self.unindexed_after_build: int | None = None  # set when a build failed
        self.wait_for_pause = False  # the last build was given up: the next waits for a pause
        self.dirty = False  # written since the last flush
        self.dirty_since = 0.0  # time.monotonic() of the first write after the last flush
        self.last_write = 0.0  # time.monotonic()
        self.recent: deque[tuple[float, int]] = deque()  # (time, points) of recent writes

    def note_write(self, points: int) -> None:
        now = self.last_write = time.monotonic()
        if not self.dirty:
            self.dirty, self.dirty_since = True, now
        self.recent.append((now, points))
        while self.recent and now - self.recent[0][0] > 5.0:
            self.recent.popleft()

    def quiet(self, seconds: float = QUIET_S) -> bool:
        return time.monotonic() - self.last_write >= seconds

    def flush_due(self) -> bool:
        return self.dirty and (
            self.quiet(FLUSH_QUIET_S) or time.monotonic() - self.dirty_since >= FLUSH_EVERY_S
        )

    def write_rate(self) -> float:
        """Points per second over the last five seconds."""
        return sum(n for _t, n in self.recent) / 5.0


class EdgeStore:
    """Collections and points in Qdrant Edge shards, safe to share between threads."""

    def __init__(
        self,
        root: Path,
        where: str | None = None,
        *,
        index_after: int | None = INDEX_AFTER,
        fsync_each_write: bool = False,
    ) -> None:
        """`index_after`: unindexed points that start a background build (None: never).

        `fsync_each_write`: flush after every write (survives power loss; each flush holds
        the GIL 4-90 ms here). Otherwise the WAL makes a write that returned survive a
        crash or kill -9, and the shard is flushed once writes pause (see `_maintain`).
        """
        self.root = Path(root)
        self.where = where or f"embedded ({self.root})"
        self._index_after = index_after
        self._fsync_each_write = fsync_each_write
        self._stop = threading.Event()
        self._lock = threading.RLock()  # the registry; taken before any collection's lock
        self._open: dict[str, _Collection] = {}
        self._closed = False
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot open the embedded Qdrant store at {self.root}: {exc}") from exc
        self._lock_fh = folder_lock.acquire(self.root)
        self._claim()
        self._maintenance = threading.Thread(
            target=self._maintain, name="edge-maintenance", daemon=True
        )
        self._maintenance.start()

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeStore:
        """The embedded store at `<data dir>/qdrant-edge`."""
        old = settings.qdrant_path
        if old.is_dir():
            log.info(
                "found qdrant-client data at %s: left untouched; the embedded store is now %s",
                old, edge_path(settings),
            )
        root = edge_path(settings)
        return cls(root, f"embedded ({root})")

    def close(self) -> None:
        """Stop index builds, flush and close every shard, release the folder (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            collections, self._open = list(self._open.values()), {}
            builds = [self._shut(c) for c in collections]
        self._maintenance.join(timeout=30)
        for build in builds:
            if build is not None and build.thread is not None:
                build.thread.join(timeout=30)
        with contextlib.suppress(OSError):
            folder_lock.release(self.root, self._lock_fh)

    # collections -----------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        with self._lock:
            self._check_open()
            return self._exists(name)

    def create(
        self, name: str, vector_size: int, distance: str, backend: str, model: str | None = None
    ) -> CollectionInfo:
        """Create an empty collection that remembers which backend and model fill it."""
        validate_name(name)
        dist = _canonical_distance(distance)
        if not 1 <= vector_size <= 65536:
            raise CollectionError(f"vector size must be from 1 to 65536, got {vector_size}")
        with self._lock:
            self._check_open()
            if self._exists(name):
                raise CollectionError(f"collection {name!r} already exists")
            folder = self.root / name
            if folder.exists():  # a create cut short, or a delete that could not finish
                self._trash(folder)
            meta = {
                "format": META_FORMAT,
                "name": name,
                "vector_size": vector_size,
                "distance": dist,
                "backend": backend,
                "model": model,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            config = EdgeConfig(
                vectors=EdgeVectorParams(
                    size=vector_size, distance=_EDGE_DISTANCE[dist], memory=Memory.Cold
                ),
                payload_memory=Memory.Cold,
                hnsw_config=HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000),
                quantization_config=ScalarQuantizationConfig(
                    type=ScalarType.Int8, memory=Memory.Cold
                ),
                optimizers=self._optimizers(vector_size),
            )
            try:
                shard = EdgeShard.create(str(folder / SHARD_DIR), config)
            except Exception as exc:
                self._trash(folder)
                raise self._error(exc) from exc
            try:
                write_json_atomic(folder / META_FILE, meta)  # the collection exists from here
            except OSError as exc:
                shard.close()
                self._trash(folder)
                raise StoreError(f"cannot create collection {name!r} in {folder}: {exc}") from exc
            self._open[name] = _Collection(name, folder, meta, shard)
        log.info("created collection %s (%d, %s, %s)", name, vector_size, dist, backend)
        return self.info(name)

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection, sorted by name."""
        with self._lock:
            self._check_open()
            try:
                names = [p.name for p in self.root.iterdir() if self._exists(p.name)]
            except OSError as exc:
                raise StoreError(f"Qdrant ({self.where}): {exc}") from exc
            return [self.info(n) for n in sorted(names)]

    def info(self, name: str) -> CollectionInfo:
        """Size, model and point count of a collection, or CollectionError if missing."""
        with self._use(name) as (c, shard):
            count = self._call(shard.count, CountRequest(exact=True))
            meta = dict(c.meta)
        return CollectionInfo(
            name=name,
            points=int(count),
            vector_size=int(meta["vector_size"]),
            distance=str(meta["distance"]),
            backend=meta.get("backend"),
            model=meta.get("model"),
            created_at=meta.get("created_at"),
        )

    def set_model(self, name: str, backend: str, model: str) -> None:
        """Record the model that filled a collection (on its first ingest)."""
        with self._use(name, write=True) as (c, _shard):
            meta = {**c.meta, "backend": backend, "model": model}
            try:
                write_json_atomic(c.folder / META_FILE, meta)
            except OSError as exc:
                raise StoreError(f"Qdrant ({self.where}): {exc}") from exc
            c.meta = meta

    def delete(self, name: str) -> None:
        """Delete a collection and its points, or CollectionError if it is missing."""
        with self._lock:
            self._check_open()
            if not self._exists(name):
                raise CollectionError(f"collection {name!r} does not exist")
            c = self._open.pop(name, None)
            if c is not None:
                self._shut(c)
            self._trash(self.root / name)
        log.info("deleted collection %s", name)

    # points ----------------------------------------------------------------------------
    def merge_upsert(
        self, name: str, points: list[PointData], after: Callable[[], None] | None = None
    ) -> None:
        """Upsert points, keeping every path already recorded for the same content.

        `after` runs once the points are written, still under the lock, so a concurrent
        delete of the collection sees the write and the caller's bookkeeping, or neither.
        """
        if not points:
            return
        with self._use(name, write=True) as (c, shard):
            ids = [p.id for p in points]
            existing = self._retrieve(shard, ids, ["paths"])
            structs = [Point(p.id, list(p.vector), merged_payload(p, existing)) for p in points]
            self._write(c, shard, UpdateOperation.upsert_points(structs), ids)
            if after is not None:
                after()

    def payloads(
        self, name: str, ids: list[str], fields: list[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Payloads of the points that exist among `ids`."""
        with self._use(name) as (_c, shard):
            return self._retrieve(shard, ids, fields)

    def set_paths(self, name: str, pid: str, paths: list[str]) -> None:
        """Replace the paths a point lists (a file moved away or changed)."""
        with self._use(name, write=True) as (c, shard):
            op = UpdateOperation.set_payload([pid], json_safe({"paths": paths}))
            self._write(c, shard, op, [pid])

    def delete_points(self, name: str, ids: list[str]) -> None:
        if not ids:
            return
        with self._use(name, write=True) as (c, shard):
            self._write(c, shard, UpdateOperation.delete_points(list(ids)), ids)

    def search(self, name: str, vector: list[float], limit: int = 10) -> list[Hit]:
        """Nearest points to a vector."""
        if limit < 1:
            raise StoreError(f"Qdrant ({self.where}): limit value {limit} is invalid. Must be 1 or larger.")
        request = QueryRequest(
            limit=limit, query=Query.Nearest(list(vector)), with_payload=True, params=_SEARCH
        )
        with self._use(name) as (_c, shard):
            points = self._call(shard.query, request)
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in points]

    def scroll(self, name: str, batch: int = 512) -> Iterator[Hit]:
        """Every point's payload, in batches (score 0)."""
        offset: Any = None
        while True:
            request = ScrollRequest(offset=offset, limit=batch, with_payload=True, with_vector=False)
            with self._use(name) as (_c, shard):
                records, offset = self._call(shard.scroll, request)
            for r in records:
                yield Hit(str(r.id), 0.0, dict(r.payload or {}))
            if offset is None:
                return

    # indexing (Edge only) --------------------------------------------------------------
    def optimize(self, name: str, wait: bool = True, timeout: float | None = None) -> bool:
        """Index every point of a collection now, in the background; True once done.

        Not part of VectorStore: for a benchmark, or an "optimize now" command.
        """
        with self._use(name) as (c, shard):
            self._start_build(c, shard)
            build = c.build
        if build is None:
            return True
        return build.done.wait(timeout) if wait else build.done.is_set()

    def wait_indexing(self, name: str, timeout: float | None = None) -> bool:
        """Start a due index build without waiting for a pause in writes, and wait for it.

        True once no build runs and fewer than `index_after` points wait for one.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._use(name) as (c, shard):
                if c.build is None:
                    self._maybe_index(c, shard, force=True)
                build = c.build
            if build is None:
                return True
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not build.done.wait(left):
                return False

    # helpers ---------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"Qdrant ({self.where}): the store is closed")

    def _exists(self, name: str) -> bool:
        if name in self._open:
            return True
        try:
            validate_name(name)
        except CollectionError:
            return False  # never a path outside the store, whatever the caller passes
        return (self.root / name / META_FILE).is_file()

    def _get(self, name: str) -> _Collection:
        """The open collection, loading its shard on first use."""
        with self._lock:
            self._check_open()
            c = self._open.get(name)
            if c is not None:
                return c
            if not self._exists(name):
                raise CollectionError(f"collection {name!r} does not exist")
            folder = self.root / name
            meta = read_json(folder / META_FILE)
            if not isinstance(meta.get("vector_size"), int) or meta.get("distance") not in DISTANCES:
                raise StoreError(f"Qdrant ({self.where}): unreadable metadata of collection {name!r}")
            self._recover(folder)
            try:
                shard = _load(folder / SHARD_DIR)
            except Exception as exc:
                raise StoreError(
                    f"Qdrant ({self.where}): cannot open collection {name!r}: {_first_line(exc)}"
                ) from exc
            c = self._open[name] = _Collection(name, folder, meta, shard)
        with c.lock:
            self._maybe_index(c, shard)  # a collection left unindexed by the last session
        return c

    @contextmanager
    def _use(self, name: str, write: bool = False) -> Iterator[tuple[_Collection, EdgeShard]]:
        c = self._get(name)
        with c.lock:
            while write and c.writes_paused and not c.closed:
                c.cond.wait()
            if c.closed:
                self._check_open()
                raise CollectionError(f"collection {name!r} does not exist")
            if c.shard is None:
                raise StoreError(f"Qdrant ({self.where}): collection {name!r} is unavailable")
            yield c, c.shard

    def _write(self, c: _Collection, shard: EdgeShard, op: UpdateOperation, ids: list[str]) -> None:
        self._call(shard.update, op)  # in the WAL from here: survives a crash or kill -9
        if c.touched is not None:
            c.touched.update(_norm_id(i) for i in ids)
        c.note_write(len(ids))
        if self._fsync_each_write:
            self._call(shard.flush)
            c.dirty = False
        self._maybe_index(c, shard)

    def _retrieve(
        self, shard: EdgeShard, ids: list[str], fields: list[str] | None
    ) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        selector = True if fields is None else PayloadSelector.Include(list(fields))
        records = self._call(shard.retrieve, list(ids), selector, False)
        return {str(r.id): dict(r.payload or {}) for r in records}

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except (CollectionError, StoreError):
            raise
        except Exception as exc:
            raise self._error(exc) from exc

    def _error(self, exc: Exception) -> StoreError:
        return StoreError(f"Qdrant ({self.where}): {_first_line(exc)}")

    def _shut(self, c: _Collection) -> _Build | None:
        """Mark a collection closed, stop its build and close its shard; returns the build."""
        with c.lock:
            while c.writes_paused:
                c.cond.wait()
            c.closed = True
            build = c.build
            if build is not None:
                build.cancelled = True
                _stop(build.process)
            if c.shard is not None:
                try:
                    c.shard.flush()
                    c.shard.close()
                except Exception as exc:  # closing must go on for the other collections
                    log.warning("closing collection %s: %s", c.name, _first_line(exc))
                c.shard = None
            c.cond.notify_all()
        return build

    def _trash(self, folder: Path) -> None:
        """Remove a folder: rename it away at once (atomic), then delete it."""
        trash = folder.with_name(f"{TRASH_PREFIX}{folder.name}-{uuid.uuid4().hex[:8]}")
        try:
            folder.rename(trash)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"Qdrant ({self.where}): cannot remove {folder}: {exc}") from exc
        shutil.rmtree(trash, ignore_errors=True)  # what stays is removed at the next start

    def _recover(self, folder: Path) -> None:
        """Finish or undo what a crash interrupted in a collection folder."""
        shard, old = folder / SHARD_DIR, folder / OLD_DIR
        if old.is_dir():  # a swap that did not commit: the old shard is complete, keep it
            if shard.exists():
                shard.rename(folder / f"{TRASH_PREFIX}{uuid.uuid4().hex[:8]}")
            old.rename(shard)
            log.warning("collection %s: an index swap was interrupted; kept the old shard", folder.name)
        for leftover in folder.iterdir():
            if leftover.name.startswith((BUILD_PREFIX, TRASH_PREFIX)):
                shutil.rmtree(leftover, ignore_errors=True)

    def _claim(self) -> None:
        for leftover in self.root.iterdir():
            if leftover.name.startswith(TRASH_PREFIX):
                shutil.rmtree(leftover, ignore_errors=True)
        try:
            folder_lock.record_owner(self.root)
        except OSError as exc:  # only a nicer message depends on it
            log.warning("cannot record the store's owner: %s", exc)

    def _optimizers(self, vector_size: int) -> EdgeOptimizersConfig | None:
        if self._index_after is None:
            return None
        # Index a segment once it holds half a build's worth of points (KB of float32 vectors).
        kb = max(1, (self._index_after // 2) * vector_size * 4 // 1024)
        return EdgeOptimizersConfig(indexing_threshold=kb)

    # background index builds -----------------------------------------------------------
    def _maybe_index(self, c: _Collection, shard: EdgeShard, force: bool = False) -> None:
        """Start a build when enough points wait for the index (under c.lock).

        While points arrive faster than a build's replay could follow (a burst of cached
        results, say), the build waits for a pause; `force` does not wait.
        """
        if self._index_after is None or c.build is not None or c.closed:
            return
        if not force and not c.quiet() and (c.wait_for_pause or c.write_rate() > BURST_RATE):
            return
        try:
            info = shard.info()
        except Exception as exc:
            log.warning("collection %s: no shard info: %s", c.name, _first_line(exc))
            return
        unindexed = max(0, info.points_count - info.indexed_vectors_count)
        floor = self._index_after
        if c.unindexed_after_build is not None:  # after a failure, wait for more points
            floor = max(floor, c.unindexed_after_build + self._index_after // 2)
        if unindexed >= floor:
            self._start_build(c, shard)

    def _maintain(self) -> None:
        """Flush once writes pause (or every minute); start builds that waited for a pause."""
        while not self._stop.wait(TICK_S):
            with self._lock:
                collections = list(self._open.values())
            for c in collections:
                if self._stop.is_set():
                    return
                with c.lock:
                    if c.closed or c.shard is None or c.writes_paused:
                        continue
                    try:
                        if c.flush_due():
                            c.shard.flush()  # holds the GIL: not after every batch of a job
                            c.dirty = False
                        if c.quiet():
                            self._maybe_index(c, c.shard)
                    except Exception as exc:  # the next tick tries again
                        log.warning("collection %s: maintenance: %s", c.name, _first_line(exc))

    def _start_build(self, c: _Collection, shard: EdgeShard) -> None:
        if c.build is not None or c.closed:
            return
        build = c.build = _Build(c.folder / f"{BUILD_PREFIX}{uuid.uuid4().hex[:8]}")
        build.thread = threading.Thread(
            target=self._run_build, args=(c, build), name=f"edge-index-{c.name}", daemon=True
        )
        build.thread.start()
        log.info("collection %s: building its index in the background", c.name)

    def _run_build(self, c: _Collection, build: _Build) -> None:
        failed = gave_up = False
        try:
            if self._copy_for_build(c, build):
                self._index_copy(c, build)
                self._swap(c, build)
        except _GaveUp as exc:
            gave_up = True
            log.info("collection %s: index build given up: %s", c.name, exc)
        except Exception:
            failed = True
            log.exception("collection %s: index build failed", c.name)
        finally:
            with c.lock:
                if c.build is build:
                    c.build = None
                    c.touched = None
                    c.unindexed_after_build = None
                    c.wait_for_pause = gave_up
                    with contextlib.suppress(Exception):
                        if failed and c.shard is not None:
                            info = c.shard.info()
                            c.unindexed_after_build = info.points_count - info.indexed_vectors_count
                c.cond.notify_all()
            shutil.rmtree(build.folder, ignore_errors=True)
            build.done.set()

    def _copy_for_build(self, c: _Collection, build: _Build) -> bool:
        """Copy the flushed shard; writes wait meanwhile, reads go on."""
        with c.lock:
            if c.closed or build.cancelled or c.shard is None:
                return False
            c.shard.flush()
            c.dirty = False
            c.writes_paused = True
        copied = False
        t0 = time.perf_counter()
        try:
            shutil.copytree(c.folder / SHARD_DIR, build.folder)
            copied = True
            build.steps["copy"] = time.perf_counter() - t0
        finally:
            with c.lock:
                c.writes_paused = False
                if copied:
                    c.touched = set()  # from now on, writes are replayed onto the copy
                c.cond.notify_all()
        return True

    def _index_copy(self, c: _Collection, build: _Build) -> None:
        ctx = multiprocessing.get_context("spawn")
        with c.lock:
            if c.closed or build.cancelled:
                return
            process = ctx.Process(
                target=_index_worker, args=(str(build.folder),),
                name=f"edge-index-{c.name}", daemon=True,
            )
            process.start()
            build.process = process
        t0 = time.perf_counter()
        process.join()
        build.steps["child"] = time.perf_counter() - t0
        if process.exitcode != 0 and not build.cancelled:
            raise StoreError(f"the index builder exited with code {process.exitcode}")

    def _swap(self, c: _Collection, build: _Build) -> None:
        """Put the indexed copy in place of the shard, with the writes made meanwhile.

        The writes are replayed onto the copy while the collection stays usable; only
        those made during that catch-up are replayed with the collection locked.
        """
        fresh = _load(build.folder)  # private until the swap
        fresh_open = True
        replayed = 0
        try:
            for _ in range(3):
                with c.lock:
                    if c.closed or build.cancelled or c.shard is None:
                        return
                    pending: list[Any] = sorted(c.touched or ())
                    if len(pending) <= REPLAY_BATCH:
                        break
                    c.touched = set()
                replayed += self._replay(c, fresh, pending)
            with c.lock:
                if c.closed or build.cancelled or c.shard is None:
                    return
                if len(c.touched or ()) > MAX_LOCKED_REPLAY:
                    raise _GaveUp(
                        f"points arrive faster than they can be replayed ({len(c.touched or ())} "
                        "behind); it starts again once writes pause"
                    )
                t0 = time.perf_counter()
                replayed += self._replay(c, fresh, sorted(c.touched or ()))
                fresh.flush()
                fresh.close()
                fresh_open = False
                c.shard.flush()
                c.shard.close()
                c.shard = None
                shard_dir, old_dir = c.folder / SHARD_DIR, c.folder / OLD_DIR
                trash = c.folder / f"{TRASH_PREFIX}{uuid.uuid4().hex[:8]}"
                try:
                    shard_dir.rename(old_dir)
                    build.folder.rename(shard_dir)
                    c.shard = _load(shard_dir)
                    old_dir.rename(trash)  # the commit point: from here the new shard is the one
                except Exception:
                    if c.shard is not None:
                        with contextlib.suppress(Exception):
                            c.shard.close()
                    self._recover(c.folder)  # back to the old shard, complete and closed
                    c.shard = _load(shard_dir)
                    raise
                log.info(
                    "collection %s: index built in %.1f s (copy %.1f s, child %.1f s; %d points "
                    "written meanwhile replayed; collection locked %.2f s)", c.name,
                    time.perf_counter() - build.started, build.steps.get("copy", 0.0),
                    build.steps.get("child", 0.0), replayed, time.perf_counter() - t0,
                )
        finally:
            if fresh_open:
                with contextlib.suppress(Exception):
                    fresh.close()
        shutil.rmtree(trash, ignore_errors=True)

    def _replay(self, c: _Collection, fresh: EdgeShard, ids: list[Any]) -> int:
        """Copy the live state of `ids` (present or deleted) onto the fresh shard."""
        for i in range(0, len(ids), REPLAY_BATCH):  # batch by batch: bounded memory
            batch = ids[i : i + REPLAY_BATCH]
            with c.lock:  # re-entrant when the caller holds it
                if c.shard is None:
                    raise StoreError("the collection closed during the index swap")
                records = c.shard.retrieve(batch, True, True)
            if records:
                fresh.update(UpdateOperation.upsert_points(
                    [Point(r.id, _vector(r.vector), r.payload or {}) for r in records]
                ))
            present = {str(r.id) for r in records}
            gone = [x for x in batch if x not in present]
            if gone:
                fresh.update(UpdateOperation.delete_points(gone))
        return len(ids)


class _GaveUp(Exception):
    """An index build abandoned on purpose (not a failure)."""


def _load(shard_dir: Path) -> EdgeShard:
    """Open a shard, its quantized vectors read ahead of the first search.

    They are memory-mapped "Cold": Edge leaves them out of the page cache, and the first
    search then faults them in 4 KB at a time (0.6-0.9 s at 100,000 x 512 here). One
    sequential read first (20-60 ms, the GIL released) makes that search take ~5 ms.
    """
    for path in shard_dir.glob("segments/*/vector_storage/quantized*.data"):
        try:
            with open(path, "rb", buffering=0) as fh:
                while fh.read(1 << 20):
                    pass
        except OSError:
            pass  # only speed depends on it
    return EdgeShard.load(str(shard_dir))


def _index_worker(path: str) -> None:
    """In a child process: build the HNSW index of the shard copy at `path`."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(10)  # behind the window and the ingestion
    shard = EdgeShard.load(path)
    try:
        shard.optimize()
        shard.flush()
    finally:
        shard.close()


def _stop(process: Any) -> None:
    if process is not None and process.is_alive():
        process.terminate()
        process.join(timeout=10)


def _norm_id(point_id: str) -> str:
    """The id as Edge returns it (lower-case hyphenated UUID)."""
    try:
        return str(uuid.UUID(point_id))
    except ValueError:
        return point_id


def _vector(value: Any) -> list[float]:
    if isinstance(value, dict):  # {"": [...]} for the unnamed vector
        value = next(iter(value.values()))
    return [float(x) for x in value]


def _canonical_distance(name: str) -> str:
    canonical = {d.lower(): d for d in DISTANCES}
    key = (name or "").lower()
    if key not in canonical:
        raise CollectionError(f"unknown distance {name!r}: use one of {', '.join(DISTANCES)}")
    return canonical[key]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
