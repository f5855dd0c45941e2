"""Files that vanished from disk: take their paths out of the collection (or only list them)."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from ingest_gui.core.points import point_id
from ingest_gui.core.services import Services

log = logging.getLogger(__name__)


def find_missing(
    services: Services, collection: str, folders: Iterable[Path], seen: set[str]
) -> dict[str, str]:
    """Indexed paths under the scanned folders that the scan did not see and that are gone."""
    missing: dict[str, str] = {}
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        for path, rec in services.cache.files.under(collection, os.path.abspath(folder)):
            if path not in seen and not os.path.lexists(path):
                missing[path] = rec.sha256
    return missing


def remove_paths(services: Services, collection: str, missing: dict[str, str]) -> int:
    """Drop vanished paths from their points; a point left with no path is deleted."""
    by_point: dict[str, set[str]] = defaultdict(set)
    for path, sha in missing.items():
        by_point[point_id(sha)].add(path)
    payloads = services.store.payloads(collection, list(by_point), fields=["paths"])
    empty = []
    for pid, gone in by_point.items():
        paths = [p for p in payloads.get(pid, {}).get("paths", []) if p not in gone]
        if paths:
            services.store.set_paths(collection, pid, paths)
        else:
            empty.append(pid)
    services.store.delete_points(collection, empty)
    services.cache.forget_files(collection, list(missing))
    log.info("removed %d vanished paths (%d points) from %s", len(missing), len(empty), collection)
    return len(missing)
