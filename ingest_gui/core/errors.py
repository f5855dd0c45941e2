"""Errors the core raises for conditions a user can act on; each message is one readable line."""

from __future__ import annotations


class IngestError(Exception):
    """Base class: a problem a person can read and fix, never a traceback."""


class ConfigError(IngestError):
    """A setting (environment variable or settings file) has a bad value."""


class CollectionError(IngestError):
    """A collection is missing, already exists, or cannot be used as asked."""


class ModelMismatchError(CollectionError):
    """The collection was filled by another model; mixing vectors is refused."""


class ServiceUnavailableError(IngestError):
    """The ML inference service (or Qdrant server) cannot be reached or is not ready."""


class InferenceError(IngestError):
    """The inference backend answered, but not with something usable."""


class StoreError(IngestError):
    """The vector store failed (locked, unreachable, rejected a write)."""


class FileProblem(IngestError):
    """One file could not be processed; carries the pipeline stage where it failed."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason
