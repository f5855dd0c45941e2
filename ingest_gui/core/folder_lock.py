"""One process per data folder: an exclusive lock held for a store's lifetime.

A second ingest_gui (window or CLI) on the same data folder gets a clear error naming the
folder and, when known, the process holding it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from ingest_gui.core.errors import StoreError
from ingest_gui.core.settings import read_json, write_json_atomic

LOCK_FILE = ".lock"
OWNER_FILE = ".owner.json"


def acquire(root: Path) -> IO[bytes]:
    """Lock `root` for this process, or StoreError saying who holds it."""
    path = root / LOCK_FILE
    try:
        fh = open(path, "a+b")  # noqa: SIM115  (held open for the store's lifetime)
    except OSError as exc:
        raise StoreError(f"cannot open the embedded Qdrant store at {root}: {exc}") from exc
    try:
        _lock(fh)
    except OSError as exc:
        fh.close()
        raise StoreError(
            f"the embedded Qdrant store at {root} is in use by another ingest_gui instance"
            f"{holder(root)}; close it (or point INGEST_GUI_DATA_DIR elsewhere)"
        ) from exc
    return fh


def record_owner(root: Path) -> None:
    """Note which process holds the lock, for the error another process will show."""
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_json_atomic(root / OWNER_FILE, {"pid": os.getpid(), "since": since})


def release(root: Path, fh: IO[bytes]) -> None:
    """Forget the owner note and drop the lock."""
    (root / OWNER_FILE).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        _unlock(fh)
    fh.close()


if sys.platform == "win32":
    import msvcrt

    def _lock(fh: IO[bytes]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(fh: IO[bytes]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fh: IO[bytes]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fh: IO[bytes]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def holder(root: Path) -> str:
    """' (process 1234, open since ...)' from the owner note, or '' when unknown."""
    owner = read_json(root / OWNER_FILE)
    pid, since = owner.get("pid"), owner.get("since")
    if not isinstance(pid, int):
        return ""
    return f" (process {pid}, open since {since})" if since else f" (process {pid})"
