"""Point ids and payloads: one point per unique content, id derived from its SHA-256."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ingest_gui.core.metadata import ImageMetadata
from ingest_gui.core.scanning import display_path

# Fixed namespace: the same bytes get the same id on every machine and after any cache loss.
POINT_NAMESPACE = uuid.UUID("5b0c8a52-6a5e-4c59-9d0e-3f3c0b6a1d17")


def point_id(sha256: str) -> str:
    """UUID5 of the content hash."""
    return str(uuid.uuid5(POINT_NAMESPACE, sha256))


def build_payload(
    sha256: str, path: Path, meta: ImageMetadata, caption: str | None, model: str
) -> dict[str, Any]:
    """The payload of DESIGN.md: identity, caption, model and metadata."""
    payload = meta.to_payload()
    payload.pop("warnings", None)
    payload.update(
        sha256=sha256,
        paths=[display_path(path)],  # valid UTF-8 even for undecodable file names
        filename=display_path(path.name),
        caption=caption or "",
        model=model,
        ingested_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    if meta.warnings:
        payload["metadata_warnings"] = list(meta.warnings)[:10]
    return payload
