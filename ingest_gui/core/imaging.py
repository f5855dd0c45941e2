"""Decoding, EXIF orientation and downscaling of images for the inference backends."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import cast

from PIL import Image, ImageOps

log = logging.getLogger(__name__)

_heif_registered = False


def register_heif() -> None:
    """Teach Pillow to open HEIC/HEIF files (once)."""
    global _heif_registered
    if _heif_registered:
        return
    opener = _heif_opener()
    if opener is None:  # pragma: no cover - pi-heif is a dependency
        log.warning("neither pi-heif nor pillow-heif is installed: HEIC/HEIF cannot be decoded")
    else:
        opener()
    _heif_registered = True


def _heif_opener() -> Callable[[], None] | None:
    """pi-heif's opener, else pillow-heif's, else None."""
    # pi-heif is the read-only build (no 22 MB HEVC encoder in the bundle); pillow-heif
    # decodes the same files and serves where only it is installed.
    try:
        from pi_heif import register_heif_opener

        return cast(Callable[[], None], register_heif_opener)
    except ImportError:
        pass
    try:
        from pillow_heif import register_heif_opener as pillow_heif_opener

        return cast(Callable[[], None], pillow_heif_opener)
    except ImportError:
        return None


def load_prepared(path: Path, max_side: int = 384) -> Image.Image:
    """Open an image, apply EXIF orientation, reduce it to at most max_side px, as RGB.

    JPEG draft mode lets libjpeg decode at 1/2..1/8 scale, so a 12 MP photo is never
    decoded at full size. Pillow's decompression-bomb guard stays on.
    """
    register_heif()
    with Image.open(path) as im:
        im.seek(0)  # first frame of GIF/TIFF
        if im.format == "JPEG":
            im.draft("RGB", _draft_size(im.size, max_side))
        im.load()
        oriented = ImageOps.exif_transpose(im)
        img = oriented if oriented is not None else im
        img = _to_rgb(img)
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
        return img.copy()


def _draft_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The smallest size libjpeg may decode to and still give a max_side thumbnail."""
    scale = max_side / max(size)
    if scale >= 1:
        return size
    # Size in stored orientation; EXIF orientation only swaps the sides afterwards.
    return (max(1, int(size[0] * scale)), max(1, int(size[1] * scale)))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Flatten alpha on white and convert any mode (CMYK, 16-bit, palette) to RGB."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping to white
        img = img.point(lambda v: v / 256).convert("L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def encode_jpeg(img: Image.Image, quality: int = 82) -> bytes:
    """Encode a prepared image as a compact JPEG for the ML service (~40 KB at 384 px)."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=False)
    return buf.getvalue()
