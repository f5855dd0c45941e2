"""The one interface every inference backend implements, and the values that cross it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL import Image

    from ingest_gui.core.metadata import ImageMetadata


@dataclass
class ImageInput:
    """One prepared image: already EXIF-oriented and downscaled to the model's input size."""

    unique_id: str
    filename: str
    image: Image.Image
    metadata: ImageMetadata | None = None


@dataclass
class InferenceResult:
    """Embedding and caption for one image, or an error for that image alone."""

    unique_id: str
    embedding: list[float] | None = None
    caption: str | None = None
    error: str | None = None
    model: str | None = None


@dataclass
class HealthStatus:
    """Whether a backend can take work now, and if not, why."""

    ok: bool
    detail: str = ""
    extra: dict[str, object] = field(default_factory=dict)


class InferenceBackend(Protocol):
    """Embeds images (and maybe text); safe to call from several threads at once."""

    kind: str  # "builtin" or "http"

    @property
    def model_name(self) -> str:
        """Name of the embedding model; a collection stores it and refuses any other."""
        ...

    def embed_images(self, items: list[ImageInput], caption: bool = True) -> list[InferenceResult]:
        """Return one result per item, in order; a bad item gets an error, not an exception."""
        ...

    def embed_text(self, text: str) -> list[float] | None:
        """Return a text embedding in the image space, or None when the backend has none."""
        ...

    def health(self) -> HealthStatus:
        """Check readiness without raising."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
