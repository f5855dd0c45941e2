"""The one set of shared core objects (cache, store, inference backends) that every job uses."""

from __future__ import annotations

import logging
import threading

from ingest_gui.core.cache import EmbeddingCache
from ingest_gui.core.edge_store import EdgeStore
from ingest_gui.core.errors import ConfigError
from ingest_gui.core.inference.base import InferenceBackend
from ingest_gui.core.settings import Settings
from ingest_gui.core.store import VectorStore

log = logging.getLogger(__name__)

# Embedded: Qdrant Edge in this process. A server (QDRANT_URL / QDRANT_HOST): qdrant-client.
Store = VectorStore | EdgeStore


def open_store(settings: Settings) -> Store:
    """The store the settings ask for."""
    if settings.qdrant_embedded:
        return EdgeStore.from_settings(settings)
    return VectorStore.from_settings(settings)


class Services:
    """Owns the cache, the store and the inference backends; safe to share between threads."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        cache: EmbeddingCache | None = None,
    ) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store: Store = store or open_store(settings)
        self.cache = cache or EmbeddingCache(settings.cache_dir)
        self._backends: dict[tuple[str, int], InferenceBackend] = {}
        self._lock = threading.Lock()

    def backend(self, kind: str, vector_size: int) -> InferenceBackend:
        """The shared backend of a kind for a vector size (created on first use)."""
        with self._lock:
            key = (kind, vector_size)
            if key not in self._backends:
                self._backends[key] = self._make_backend(kind, vector_size)
            return self._backends[key]

    def add_backend(self, kind: str, vector_size: int, backend: InferenceBackend) -> None:
        """Use a backend built elsewhere (a test's client with short back-off, say)."""
        with self._lock:
            self._backends[(kind, vector_size)] = backend

    def _make_backend(self, kind: str, vector_size: int) -> InferenceBackend:
        if kind == "builtin":
            from ingest_gui.core.inference.builtin import BuiltinBackend

            return BuiltinBackend(vector_size=vector_size)
        if kind == "http":
            from ingest_gui.core.inference.http import HttpInferenceClient

            s = self.settings
            return HttpInferenceClient(
                s.ml_url, vector_size=vector_size, timeout_s=s.ml_timeout_s, api_key=s.ml_api_key
            )
        raise ConfigError(f"unknown inference backend {kind!r}: use builtin or http")

    def close(self) -> None:
        """Close backends, store and cache (call once, when the app or CLI exits)."""
        with self._lock:
            for b in self._backends.values():
                b.close()
            self._backends.clear()
        self.store.close()
        self.cache.close()
