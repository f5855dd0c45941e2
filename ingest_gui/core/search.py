"""Searching a collection by text or by an example image."""

from __future__ import annotations

import re
from pathlib import Path

from ingest_gui.core.errors import IngestError
from ingest_gui.core.imaging import load_prepared
from ingest_gui.core.inference.base import ImageInput
from ingest_gui.core.metadata import read_metadata
from ingest_gui.core.reasons import describe_error
from ingest_gui.core.services import Services
from ingest_gui.core.store import Hit

_WORD = re.compile(r"[\w-]+", re.UNICODE)
_TEXT_FIELDS = ("caption", "filename", "camera_make", "camera_model", "lens", "taken_at", "format")


def search_text(services: Services, collection: str, text: str, limit: int = 10) -> list[Hit]:
    """Text search: the backend's text embedding, or word matches for backends without one."""
    info = services.store.info(collection)
    backend = services.backend(info.backend or services.settings.backend, info.vector_size)
    vector = backend.embed_text(text)
    if vector is not None:
        return services.store.search(collection, vector, limit)
    return _word_search(services, collection, text, limit)


def search_image(services: Services, collection: str, path: Path, limit: int = 10) -> list[Hit]:
    """Nearest images to an example image, embedded by the collection's own model."""
    info = services.store.info(collection)
    backend = services.backend(info.backend or services.settings.backend, info.vector_size)
    try:
        image = load_prepared(path)
        meta = read_metadata(path)
    except Exception as exc:
        raise IngestError(f"cannot read {path}: {describe_error(exc)}") from exc
    [result] = backend.embed_images([ImageInput("query", path.name, image, meta)], caption=False)
    if result.embedding is None:
        raise IngestError(f"cannot embed {path}: {result.error}")
    return services.store.search(collection, result.embedding, limit)


def _word_search(services: Services, collection: str, text: str, limit: int) -> list[Hit]:
    words = {w.lower() for w in _WORD.findall(text)}
    if not words:
        return []
    scored: list[Hit] = []
    for hit in services.store.scroll(collection):
        haystack = " ".join(str(hit.payload.get(f) or "") for f in _TEXT_FIELDS).lower()
        found = set(_WORD.findall(haystack))
        score = len(words & found) / len(words)
        if score > 0:
            scored.append(Hit(hit.id, score, hit.payload))
    scored.sort(key=lambda h: (-h.score, str(h.payload.get("filename", ""))))
    return scored[:limit]
