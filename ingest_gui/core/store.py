"""The vector store: Qdrant through qdrant-client, embedded by default or a server when set."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # qdrant-client (and grpc under it) costs ~0.6 s to import: only when used
    from qdrant_client import QdrantClient, models

from ingest_gui.core import folder_lock
from ingest_gui.core.errors import CollectionError, StoreError
from ingest_gui.core.scanning import display_path
from ingest_gui.core.settings import DISTANCES, Settings

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_META_KEY = "ingest_gui"


@dataclass(frozen=True)
class CollectionInfo:
    """What the collection manager shows for one collection."""

    name: str
    points: int
    vector_size: int
    distance: str
    backend: str | None
    model: str | None
    created_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PointData:
    """One point to write: id, vector and payload."""

    id: str
    vector: list[float]
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A search result."""

    id: str
    score: float
    payload: dict[str, Any]


def validate_name(name: str) -> str:
    """A collection name Qdrant and file systems both accept, or a clear error."""
    if not _NAME.match(name or ""):
        raise CollectionError(
            f"invalid collection name {name!r}: use 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


class VectorStore:
    """Collections and points over one QdrantClient, safe to share between threads."""

    def __init__(self, client: QdrantClient, where: str) -> None:
        self._client = client
        self.where = where
        # Embedded Qdrant is not built for concurrent callers; a server is, but the
        # read-merge-write of `paths` below needs one writer per collection anyway.
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: Settings) -> VectorStore:
        """Embedded at <data dir>/qdrant unless a server is configured."""
        if settings.qdrant_embedded:
            return cls(_open_embedded(settings), settings.describe_qdrant())
        from qdrant_client import QdrantClient

        try:
            if settings.qdrant_url:
                client = QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key)
            else:
                client = QdrantClient(
                    host=settings.qdrant_host, port=settings.qdrant_port,
                    api_key=settings.qdrant_api_key,
                )
        except Exception as exc:  # qdrant-client raises plain exceptions for bad URLs
            raise StoreError(f"cannot connect to Qdrant at {settings.describe_qdrant()}: {exc}") from exc
        return cls(client, settings.describe_qdrant())

    def close(self) -> None:
        with self._lock:
            self._client.close()

    # collections -----------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        with self._lock:
            return bool(self._call(self._client.collection_exists, name))

    def create(
        self, name: str, vector_size: int, distance: str, backend: str, model: str | None = None
    ) -> CollectionInfo:
        """Create an empty collection that remembers which backend and model fill it."""
        validate_name(name)
        dist = _distance(distance)
        with self._lock:
            if self.exists(name):
                raise CollectionError(f"collection {name!r} already exists")
            meta = {
                "backend": backend,
                "model": model,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            self._call(
                self._client.create_collection,
                name,
                vectors_config=_models().VectorParams(size=vector_size, distance=dist),
                metadata={_META_KEY: meta},
            )
        log.info("created collection %s (%d, %s, %s)", name, vector_size, distance, backend)
        return self.info(name)

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection, sorted by name."""
        with self._lock:
            names = [c.name for c in self._call(self._client.get_collections).collections]
        return [self.info(n) for n in sorted(names)]

    def info(self, name: str) -> CollectionInfo:
        """Size, model and point count of a collection, or CollectionError if missing."""
        with self._lock:
            self._require(name)
            desc = self._call(self._client.get_collection, name)
            count = self._call(self._client.count, name, exact=True).count
        params = desc.config.params.vectors
        assert isinstance(params, _models().VectorParams)  # we only create unnamed vectors
        meta = (desc.config.metadata or {}).get(_META_KEY) or {}
        return CollectionInfo(
            name=name,
            points=int(count),
            vector_size=params.size,
            distance=str(params.distance.value if hasattr(params.distance, "value") else params.distance),
            backend=meta.get("backend"),
            model=meta.get("model"),
            created_at=meta.get("created_at"),
        )

    def set_model(self, name: str, backend: str, model: str) -> None:
        """Record the model that filled a collection (on its first ingest)."""
        with self._lock:
            desc = self._call(self._client.get_collection, name)
            meta = dict((desc.config.metadata or {}).get(_META_KEY) or {})
            meta.update(backend=backend, model=model)
            self._call(self._client.update_collection, name, metadata={_META_KEY: meta})

    def delete(self, name: str) -> None:
        """Delete a collection and its points, or CollectionError if it is missing."""
        with self._lock:
            self._require(name)
            self._call(self._client.delete_collection, name)
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
        with self._lock:
            self._require(name)
            existing = self.payloads(name, [p.id for p in points], fields=["paths"])
            structs = [
                _models().PointStruct(id=p.id, vector=p.vector, payload=merged_payload(p, existing))
                for p in points
            ]
            self._call(self._client.upsert, name, points=structs, wait=True)
            if after is not None:
                after()

    def payloads(
        self, name: str, ids: list[str], fields: list[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Payloads of the points that exist among `ids`."""
        selector: bool | list[str] = fields if fields is not None else True
        with self._lock:
            records = self._call(self._client.retrieve, name, ids=ids, with_payload=selector)
        return {str(r.id): dict(r.payload or {}) for r in records}

    def set_paths(self, name: str, pid: str, paths: list[str]) -> None:
        """Replace the paths a point lists (a file moved away or changed)."""
        with self._lock:
            self._call(
                self._client.set_payload, name, payload={"paths": paths}, points=[pid], wait=True
            )

    def delete_points(self, name: str, ids: list[str]) -> None:
        if not ids:
            return
        with self._lock:
            self._call(
                self._client.delete, name, points_selector=_models().PointIdsList(points=list(ids))
            )

    def search(self, name: str, vector: list[float], limit: int = 10) -> list[Hit]:
        """Nearest points to a vector."""
        with self._lock:
            self._require(name)
            res = self._call(
                self._client.query_points, name, query=vector, limit=limit, with_payload=True
            )
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in res.points]

    def scroll(self, name: str, batch: int = 512) -> Iterator[Hit]:
        """Every point's payload, in batches (score 0)."""
        offset: Any = None
        while True:
            with self._lock:
                records, offset = self._call(
                    self._client.scroll, name, limit=batch, offset=offset, with_payload=True
                )
            for r in records:
                yield Hit(str(r.id), 0.0, dict(r.payload or {}))
            if offset is None:
                return

    # helpers ---------------------------------------------------------------------------
    def _require(self, name: str) -> None:
        if not self._call(self._client.collection_exists, name):
            raise CollectionError(f"collection {name!r} does not exist")

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (CollectionError, StoreError):
            raise
        except Exception as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "not found" in text.lower() and args:
                raise CollectionError(f"collection {args[0]!r} does not exist") from exc
            raise StoreError(f"Qdrant ({self.where}): {text}") from exc


def merged_payload(point: PointData, existing: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The point's payload listing every path known for its content, old ones first."""
    old_paths = existing.get(point.id, {}).get("paths") or []
    paths = list(dict.fromkeys([*old_paths, *point.payload.get("paths", [])]))
    payload: dict[str, Any] = json_safe({**point.payload, "paths": paths})
    return payload


def json_safe(value: Any) -> Any:
    """A payload a Qdrant server accepts: every string valid UTF-8 (no lone surrogates)."""
    if isinstance(value, str):
        return display_path(value)  # a no-op for valid text; escapes undecodable bytes
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _open_embedded(settings: Settings) -> QdrantClient:
    path = settings.qdrant_path
    path.mkdir(parents=True, exist_ok=True)
    try:
        from qdrant_client import QdrantClient

        client = QdrantClient(path=str(path))
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            raise StoreError(
                f"the embedded Qdrant store at {path} is in use by another ingest_gui instance"
                f"{folder_lock.holder(path)}; close it (or point INGEST_GUI_DATA_DIR elsewhere)"
            ) from exc
        raise StoreError(f"cannot open the embedded Qdrant store at {path}: {exc}") from exc
    _claim(path)
    return client


def _claim(path: Path) -> None:
    """Note who holds the store, for the error another process shows; drop crash leftovers."""
    for stale in path.glob("*.tmp"):  # a write cut short by a crash; we hold the lock now
        stale.unlink(missing_ok=True)
    try:
        folder_lock.record_owner(path)
    except OSError as exc:  # only a nicer message depends on it
        log.warning("cannot record the store's owner: %s", exc)


def _distance(name: str) -> models.Distance:
    canonical = {d.lower(): d for d in DISTANCES}
    key = (name or "").lower()
    if key not in canonical:
        raise CollectionError(f"unknown distance {name!r}: use one of {', '.join(DISTANCES)}")
    distance: models.Distance = _models().Distance(canonical[key])
    return distance


def _models() -> Any:
    """qdrant_client.models, imported on first use."""
    from qdrant_client import models

    return models
