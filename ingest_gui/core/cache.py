"""The disk cache shared by every job: embeddings by (model, sha256), and per-collection indexes.

Keys (diskcache, SQLite underneath, safe across threads and processes):
  ("emb", model, sha256)              -> CachedResult as (float32 bytes, caption or None)
  ("use", collection, model, sha256)  -> 1: this collection used that entry
  ("file", collection, path)          -> (size, mtime_ns, sha256): the file is in the collection
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import diskcache
import numpy as np

log = logging.getLogger(__name__)

SIZE_LIMIT = 8 * 1024**3  # diskcache's 1 GB default would evict a library's embeddings


@dataclass(frozen=True)
class CachedResult:
    """An embedding and caption computed earlier for the same bytes by the same model."""

    embedding: list[float]
    caption: str | None


@dataclass(frozen=True)
class FileRecord:
    """What a collection holds for a path: enough to tell the file is unchanged."""

    size: int
    mtime_ns: int
    sha256: str


class EmbeddingCache:
    """Thread- and process-safe cache of inference results and collection file indexes."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._db = diskcache.Cache(str(directory), size_limit=SIZE_LIMIT)

    def close(self) -> None:
        self._db.close()

    # results ---------------------------------------------------------------------------
    def get(self, model: str, sha256: str) -> CachedResult | None:
        """The cached result, or None."""
        value = self._db.get(("emb", model, sha256))
        if value is None:
            return None
        raw, caption = value
        return CachedResult(np.frombuffer(raw, dtype=np.float32).tolist(), caption)

    def put(
        self, model: str, sha256: str, embedding: list[float], caption: str | None, collection: str
    ) -> None:
        """Store a result and record that `collection` uses it."""
        raw = np.asarray(embedding, dtype=np.float32).tobytes()
        with self._db.transact():
            self._db.set(("emb", model, sha256), (raw, caption))
            self._db.set(("use", collection, model, sha256), 1)

    def mark_used(self, collection: str, model: str, sha256: str) -> None:
        """Record that a collection reused an entry (so deleting another keeps it)."""
        self._db.set(("use", collection, model, sha256), 1)

    # file index ------------------------------------------------------------------------
    def get_file(self, collection: str, path: str) -> FileRecord | None:
        value = self._db.get(("file", collection, path))
        return FileRecord(*value) if value is not None else None

    def set_files(self, collection: str, records: dict[str, FileRecord]) -> None:
        """Record files that are now in the collection (after their upsert succeeded)."""
        with self._db.transact():
            for path, rec in records.items():
                self._db.set(("file", collection, path), (rec.size, rec.mtime_ns, rec.sha256))

    def forget_files(self, collection: str, paths: list[str]) -> None:
        with self._db.transact():
            for path in paths:
                self._db.delete(("file", collection, path))

    def files(self, collection: str) -> Iterator[tuple[str, FileRecord]]:
        """Every path the collection holds, per this index."""
        for key in list(self._db.iterkeys()):
            if key[0] == "file" and key[1] == collection:
                rec = self.get_file(collection, key[2])
                if rec is not None:
                    yield key[2], rec

    # collection-wide operations --------------------------------------------------------
    def clear_collection(self, collection: str) -> int:
        """Forget the collection's results and file index, so its images are inferred again."""
        removed = 0
        with self._db.transact():
            for key in list(self._db.iterkeys()):
                if key[0] == "use" and key[1] == collection:
                    self._db.delete(key)
                    removed += int(self._db.delete(("emb", key[2], key[3])))
                elif key[0] == "file" and key[1] == collection:
                    self._db.delete(key)
        log.info("cleared %d cached results of collection %s", removed, collection)
        return removed

    def drop_collection(self, collection: str) -> int:
        """Forget a deleted collection: its index, and the results no other collection uses."""
        users: dict[tuple[str, str], set[str]] = {}
        with self._db.transact():
            for key in list(self._db.iterkeys()):
                if key[0] == "use":
                    users.setdefault((key[2], key[3]), set()).add(key[1])
                elif key[0] == "file" and key[1] == collection:
                    self._db.delete(key)
            removed = 0
            for (model, sha), names in users.items():
                if collection not in names:
                    continue
                self._db.delete(("use", collection, model, sha))
                if names == {collection}:
                    removed += int(self._db.delete(("emb", model, sha)))
        log.info("dropped %d cached results only collection %s used", removed, collection)
        return removed

    def count_results(self) -> int:
        """How many inference results are cached (all models)."""
        return sum(1 for key in self._db.iterkeys() if key[0] == "emb")
