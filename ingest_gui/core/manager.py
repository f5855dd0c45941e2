"""Collection management: create, list, select, delete, clear cache — store and cache kept in step."""

from __future__ import annotations

import logging

from ingest_gui.core.errors import CollectionError
from ingest_gui.core.services import Services
from ingest_gui.core.settings import BACKENDS
from ingest_gui.core.state import get_active_collection, set_active_collection
from ingest_gui.core.store import CollectionInfo

log = logging.getLogger(__name__)


class CollectionManager:
    """What the collections panel and the `collections` CLI command do."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def list(self) -> list[CollectionInfo]:
        return self.services.store.list_collections()

    def info(self, name: str) -> CollectionInfo:
        return self.services.store.info(name)

    def create(
        self,
        name: str,
        vector_size: int | None = None,
        distance: str | None = None,
        backend: str | None = None,
    ) -> CollectionInfo:
        """Create a collection bound to a backend; the builtin model is recorded at once."""
        s = self.services.settings
        backend = backend or s.backend
        if backend not in BACKENDS:
            raise CollectionError(f"unknown backend {backend!r}: use {' or '.join(BACKENDS)}")
        size = vector_size or s.vector_size
        if not 1 <= size <= 65536:
            raise CollectionError(f"vector size must be from 1 to 65536, got {size}")
        model = None
        if backend == "builtin":
            model = self.services.backend("builtin", size).model_name
        return self.services.store.create(name, size, distance or s.distance, backend, model)

    def delete(self, name: str) -> None:
        """Delete the collection and the cache entries no other collection uses."""
        self.services.store.delete(name)
        self.services.cache.drop_collection(name)
        if self.active() == name:
            set_active_collection(self.services.settings.data_dir, None)

    def clear_cache(self, name: str) -> int:
        """Make the collection's images go through inference again on the next ingest."""
        self.services.store.info(name)  # a clear error for a missing collection
        return self.services.cache.clear_collection(name)

    def select(self, name: str) -> CollectionInfo:
        """Make a collection the active one (remembered between runs)."""
        info = self.services.store.info(name)
        set_active_collection(self.services.settings.data_dir, name)
        return info

    def active(self) -> str | None:
        return get_active_collection(self.services.settings.data_dir)
