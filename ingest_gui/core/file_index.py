"""Which paths each collection holds, with size and mtime, so unchanged files are skipped unread.

A plain SQLite table (WAL, one connection per thread): lookups by (collection, path) and listing
one collection's paths under a folder are index queries, not scans of the whole cache.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest_gui.core.scanning import display_path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    collection TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (collection, path)
) WITHOUT ROWID
"""


@dataclass(frozen=True)
class FileRecord:
    """What a collection holds for a path: enough to tell the file is unchanged."""

    size: int
    mtime_ns: int
    sha256: str


class FileIndex:
    """Thread- and process-safe index of the files in each collection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._conn() as db:
            db.execute(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def get(self, collection: str, path: str) -> FileRecord | None:
        row = self._conn().execute(
            "SELECT size, mtime_ns, sha256 FROM files WHERE collection=? AND path=?",
            (collection, _key(path)),
        ).fetchone()
        return FileRecord(*row) if row else None

    def put_many(self, collection: str, records: dict[str, FileRecord]) -> None:
        with self._conn() as db:
            db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                [(collection, _key(p), r.size, r.mtime_ns, r.sha256) for p, r in records.items()],
            )

    def forget(self, collection: str, paths: Iterable[str]) -> None:
        with self._conn() as db:
            db.executemany(
                "DELETE FROM files WHERE collection=? AND path=?",
                [(collection, _key(p)) for p in paths],
            )

    def under(self, collection: str, folder: str | None = None) -> Iterator[tuple[str, FileRecord]]:
        """The collection's paths, all or those below a folder."""
        sql = "SELECT path, size, mtime_ns, sha256 FROM files WHERE collection=?"
        args: tuple[str, ...] = (collection,)
        if folder is not None:
            prefix = _key(folder.rstrip(os.sep) + os.sep)
            # a range query on the primary key: everything that starts with the prefix
            sql += " AND path >= ? AND path < ?"
            args = (collection, prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1))
        for path, size, mtime_ns, sha in self._conn().execute(sql, args).fetchall():
            yield path, FileRecord(size, mtime_ns, sha)

    def drop(self, collection: str) -> None:
        with self._conn() as db:
            db.execute("DELETE FROM files WHERE collection=?", (collection,))


def _key(path: str) -> str:
    """The path as SQLite TEXT: undecodable bytes of a file name (surrogates) shown as \\xNN."""
    return display_path(path)
