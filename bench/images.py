"""Benchmark images made on the spot: photo-like JPEGs with EXIF, each with distinct bytes."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import piexif
from PIL import Image, ImageFilter


def base_jpegs(size: tuple[int, int], count: int = 4, seed: int = 0) -> list[bytes]:
    """A few photo-like JPEGs (smooth shapes, mild grain) with camera EXIF."""
    rng = np.random.default_rng(seed)
    out = []
    w, h = size
    for k in range(count):
        coarse = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)
        img = img.filter(ImageFilter.GaussianBlur(radius=max(1, w // 400)))
        # Detail at roughly the model's scale, so the small JPEG we send is as busy as a photo's.
        detail = rng.normal(0, 18, (h // 8, w // 8)).astype(np.float32)
        texture = np.asarray(Image.fromarray(detail, mode="F").resize((w, h)), dtype=np.int16)
        grain = rng.normal(0, 3, (h, w)).astype(np.int16)
        arr = np.asarray(img, dtype=np.int16) + (texture + grain)[..., None]
        arr = np.clip(arr, 0, 255).astype(np.uint8)
        exif = piexif.dump({
            "0th": {piexif.ImageIFD.Make: b"BenchCam", piexif.ImageIFD.Model: b"BC-12",
                    piexif.ImageIFD.Orientation: 1 + (k % 8)},
            "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2024:01:02 03:04:05",
                     piexif.ExifIFD.FNumber: (28, 10), piexif.ExifIFD.ISOSpeedRatings: 200},
        })
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=90, exif=exif)
        out.append(buf.getvalue())
    return out


def unique_copy(data: bytes, n: int) -> bytes:
    """The same picture with a JPEG comment that makes its bytes (and SHA-256) unique."""
    text = f"bench image {n}".encode()
    segment = b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text
    return data[:2] + segment + data[2:]


def make_folder(folder: Path, n: int, size: tuple[int, int], subdirs: int = 10) -> list[Path]:
    """n distinct JPEGs of the given size, spread over a few sub-folders."""
    bases = base_jpegs(size)
    paths = []
    for i in range(n):
        sub = folder / f"roll{i % subdirs:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"IMG_{i:05d}.JPG"
        path.write_bytes(unique_copy(bases[i % len(bases)], i))
        paths.append(path)
    return paths
