"""Turn exceptions into one-line reasons written for people, never a traceback."""

from __future__ import annotations

import errno

from PIL import Image, UnidentifiedImageError


def describe_error(exc: BaseException) -> str:
    """A readable reason for why a file could not be processed."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, Image.DecompressionBombError):
        return f"image too large to decode safely (decompression-bomb guard): {text}"
    if isinstance(exc, UnidentifiedImageError):
        return "not a recognised image (the content does not match any image format)"
    if isinstance(exc, PermissionError):
        return "permission denied (the file cannot be read by this user)"
    if isinstance(exc, FileNotFoundError):
        return "file vanished before it could be read"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if isinstance(exc, OSError):
        if "truncated" in text.lower():
            return f"truncated image ({text})"
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if exc.errno == errno.ENAMETOOLONG:
            return "file name too long for this system"
        return f"cannot read the file ({exc.strerror or text or type(exc).__name__})"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode this image"
    if isinstance(exc, SyntaxError):  # Pillow raises SyntaxError for some corrupt headers
        return f"corrupt image header ({text})"
    return f"{text or type(exc).__name__}"
