"""Real image files made on the spot: odd modes, broken files, bombs, many small JPEGs."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def noise_jpeg(path: Path, seed: int, size: tuple[int, int] = (48, 32)) -> Path:
    """A small JPEG whose bytes are unique per seed."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(path, "JPEG", quality=85)
    return path


def many_jpegs(folder: Path, count: int, start: int = 0) -> list[Path]:
    """`count` unique small JPEGs named img_00000.jpg, ... in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    return [noise_jpeg(folder / f"img_{i:05d}.jpg", i) for i in range(start, start + count)]


def jpeg_bytes(seed: int = 1, size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def bomb_png(path: Path, side: int = 30_000) -> Path:
    """A ~100-byte PNG that declares side x side pixels: far over Pillow's bomb limit."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
    path.write_bytes(data + _chunk(b"IEND", b""))
    return path


def bomb_gif(path: Path) -> Path:
    """A tiny GIF whose logical screen is 65535 x 65535 pixels."""
    header = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02\x44\x01\x00"
    path.write_bytes(header + frame + b";")
    return path


def truncated_jpeg(path: Path) -> Path:
    data = jpeg_bytes(7, (256, 192))
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupt_exif_jpeg(path: Path) -> Path:
    """A valid JPEG whose APP1 Exif block is garbage (a TIFF header pointing nowhere)."""
    data = jpeg_bytes(11)
    garbage = b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 0xFFFFFF00) + b"\xde\xad" * 40
    app1 = b"\xff\xe1" + struct.pack(">H", len(garbage) + 2) + garbage
    path.write_bytes(data[:2] + app1 + data[2:])
    return path


def odd_modes(folder: Path) -> dict[str, Path]:
    """CMYK, 16-bit, palette, alpha and multi-frame images, one file each."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    rgb = Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), "RGB")
    out = {
        "cmyk": folder / "cmyk.jpg",
        "gray16": folder / "gray16.png",
        "palette": folder / "palette.png",
        "rgba": folder / "alpha.png",
        "la": folder / "gray_alpha.png",
        "gif": folder / "frames.gif",
        "tiff": folder / "frames.tiff",
        "tiff16": folder / "gray16.tif",
    }
    rgb.convert("CMYK").save(out["cmyk"], "JPEG")
    ramp = (np.arange(40 * 60, dtype=np.uint16).reshape(40, 60) * 27).astype(np.uint16)
    Image.fromarray(ramp).save(out["gray16"])
    rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(out["palette"])
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    rgba.save(out["rgba"])
    rgb.convert("LA").save(out["la"])
    frames = [Image.new("RGB", (30, 20), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(out["gif"], save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(out["tiff"], save_all=True, append_images=frames[1:])
    Image.fromarray(ramp).save(out["tiff16"])  # 16-bit greyscale TIFF
    return out


def heic(path: Path) -> Path:
    """A real HEIC written by libheif (pillow-heif's encoder)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), "RGB").save(path)
    return path
