"""The disk cache shared by every job: embeddings by (model, sha256), and per-collection indexes.

Keys (diskcache, SQLite underneath, safe across threads and processes):
  ("emb", model, sha256)              -> CachedResult as (float32 bytes, caption or None)
  ("use", collection, model, sha256)  -> 1: this collection used that entry
  ("meta", sha256)                    -> metadata read from those bytes (any model, any path)
The file index (which paths a collection holds) lives beside it in files.sqlite.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache
import numpy as np

from ingest_gui.core.file_index import FileIndex, FileRecord

log = logging.getLogger(__name__)

SIZE_LIMIT = 8 * 1024**3  # diskcache's 1 GB default would evict a library's embeddings


@dataclass(frozen=True)
class CachedResult:
    """An embedding and caption computed earlier for the same bytes by the same model."""

    embedding: list[float]
    caption: str | None


class EmbeddingCache:
    """Thread- and process-safe cache of inference results and collection file indexes."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._db = diskcache.Cache(str(directory), size_limit=SIZE_LIMIT)
        self.files = FileIndex(directory / "files.sqlite")

    def close(self) -> None:
        self.files.close()
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

    def get_metadata(self, sha256: str) -> dict[str, Any] | None:
        """Metadata read earlier from the same bytes: a warm re-ingest need not parse EXIF."""
        value = self._db.get(("meta", sha256))
        return value if isinstance(value, dict) else None

    def put_metadata(self, sha256: str, metadata: dict[str, Any]) -> None:
        self._db.set(("meta", sha256), metadata)

    # file index ------------------------------------------------------------------------
    def get_file(self, collection: str, path: str) -> FileRecord | None:
        return self.files.get(collection, path)

    def set_files(self, collection: str, records: dict[str, FileRecord]) -> None:
        """Record files that are now in the collection (after their upsert succeeded)."""
        self.files.put_many(collection, records)

    def forget_files(self, collection: str, paths: list[str]) -> None:
        self.files.forget(collection, paths)

    # collection-wide operations --------------------------------------------------------
    def clear_collection(self, collection: str) -> int:
        """Forget the collection's results and file index, so its images are inferred again."""
        removed = 0
        with self._db.transact():
            for key in list(self._db.iterkeys()):
                if key[0] == "use" and key[1] == collection:
                    self._db.delete(key)
                    removed += int(self._db.delete(("emb", key[2], key[3])))
        self.files.drop(collection)
        log.info("cleared %d cached results of collection %s", removed, collection)
        return removed

    def drop_collection(self, collection: str) -> int:
        """Forget a deleted collection: its index, and the results no other collection uses."""
        users: dict[tuple[str, str], set[str]] = {}
        with self._db.transact():
            for key in list(self._db.iterkeys()):
                if key[0] == "use":
                    users.setdefault((key[2], key[3]), set()).add(key[1])
            removed = 0
            for (model, sha), names in users.items():
                if collection not in names:
                    continue
                self._db.delete(("use", collection, model, sha))
                if names == {collection}:
                    removed += int(self._db.delete(("emb", model, sha)))
                    if not any(sha == s for (_m, s) in users if (_m, s) != (model, sha)):
                        self._db.delete(("meta", sha))
        self.files.drop(collection)
        log.info("dropped %d cached results only collection %s used", removed, collection)
        return removed

    def count_results(self) -> int:
        """How many inference results are cached (all models)."""
        return sum(1 for key in self._db.iterkeys() if key[0] == "emb")
