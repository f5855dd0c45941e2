"""Turn exceptions into one-line reasons written for people, never a traceback."""

from __future__ import annotations

import errno
import re

from PIL import Image, UnidentifiedImageError


def describe_error(exc: BaseException, image_format: str | None = None) -> str:
    """A readable reason for why a file could not be processed (format: "JPEG", if known)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, Image.DecompressionBombError):
        return _bomb(text)
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
            detail = re.sub(r" \((.*)\)$", r": \1", text)  # no nested parentheses
            return f"truncated {image_format or 'image'} ({detail})"
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


def _bomb(text: str) -> str:
    """Pillow's bomb message with readable numbers of pixels."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    reason = "image too large to decode safely (decompression-bomb guard)"
    if len(numbers) >= 2:
        return f"{reason}: {numbers[0]:,} pixels, the limit is {numbers[1]:,}"
    return f"{reason}: {text}" if text else reason
