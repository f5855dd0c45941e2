"""Files that vanished from disk: take their paths out of the collection (or only list them)."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from ingest_gui.core.points import point_id
from ingest_gui.core.scanning import display_path
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
        root = display_path(os.path.abspath(folder))
        for path, rec in services.cache.files.under(collection, root):
            if path not in seen and not os.path.lexists(path):
                missing[path] = rec.sha256
    return missing


def remove_paths(services: Services, collection: str, missing: dict[str, str]) -> int:
    """Take vanished files out of the collection and out of its file index."""
    detach_paths(services, collection, missing)
    services.cache.forget_files(collection, list(missing))
    return len(missing)


def detach_paths(services: Services, collection: str, paths: dict[str, str]) -> None:
    """Drop paths from the points of the given content; a point left with no path is deleted."""
    by_point: dict[str, set[str]] = defaultdict(set)
    for path, sha in paths.items():
        by_point[point_id(sha)].add(path)
    payloads = services.store.payloads(collection, list(by_point), fields=["paths"])
    empty = []
    for pid, gone in by_point.items():
        keep = [p for p in payloads.get(pid, {}).get("paths", []) if p not in gone]
        if keep:
            services.store.set_paths(collection, pid, keep)
        else:
            empty.append(pid)
    services.store.delete_points(collection, empty)
    log.info("detached %d paths (%d points deleted) in %s", len(paths), len(empty), collection)
