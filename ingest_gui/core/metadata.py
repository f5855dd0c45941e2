"""Image metadata read through Pillow and piexif; malformed EXIF never fails an image."""

from __future__ import annotations

import logging
import math
import numbers
import os
import re
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import piexif  # type: ignore[import-untyped,unused-ignore]  # piexif ships no stubs
from PIL import ExifTags, Image, UnidentifiedImageError

from ingest_gui.core.imaging import register_heif


@dataclass
class ImageMetadata:
    """What we know about one image file; every field is optional except the file facts."""

    file_size: int
    mtime: float
    format: str | None = None
    width: int | None = None  # as displayed, i.e. after EXIF orientation
    height: int | None = None
    orientation: int | None = None  # EXIF 1..8
    taken_at: str | None = None  # ISO 8601, no time zone unless EXIF gives one
    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    f_number: float | None = None
    exposure_time: str | None = None  # "1/250" or "2.5"
    iso: int | None = None
    focal_length: float | None = None  # mm
    gps: dict[str, float] | None = None  # {"lat", "lon"} and "alt" when present
    exif: dict[str, str] = field(default_factory=dict)  # raw tags, bounded in size
    warnings: list[str] = field(default_factory=list)  # what could not be read, and why

    def to_payload(self) -> dict[str, Any]:
        """Plain JSON-able dict for a Qdrant payload."""
        return asdict(self)


log = logging.getLogger(__name__)

_Ifds = dict[str, dict[int, Any]]

_MAX_TAGS = 100
_MAX_CHARS = 200
_MAX_ITEMS = 64  # items of a multi-valued tag rendered into the raw EXIF dict
_PIEXIF_TIFF_LIMIT = 64 * 1024 * 1024  # larger TIFFs: let Pillow read the tags lazily

# EXIF tag numbers
_MAKE, _MODEL, _ORIENTATION, _DATETIME = 271, 272, 274, 306
_EXPOSURE, _FNUMBER, _ISO, _FOCAL = 33434, 33437, 34855, 37386
_DT_ORIGINAL, _DT_DIGITIZED = 36867, 36868
_OFFSET, _OFFSET_ORIGINAL, _OFFSET_DIGITIZED = 36880, 36881, 36882
_LENS_MAKE, _LENS_MODEL = 42035, 42036
_USER_COMMENT = 37510
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005
_XP_TAGS = frozenset(range(0x9C9B, 0x9CA0))  # Windows XPTitle..XPSubject, UTF-16LE

# Tags that are offsets, pointers or binary blobs: never copied into the raw EXIF dict.
_OFFSET_TAGS = (273, 279, 324, 325, 330, 513, 514)  # strips, tiles, sub-IFDs, thumbnail
# XMP, IPTC, Photoshop, ICC, ImageSourceData, MakerNote, PrintIM, Padding
_BLOB_TAGS = (700, 33723, 34377, 34675, 37724, 37500, 50341, 59932)
_SKIP_TAGS = frozenset((*_OFFSET_TAGS, *_BLOB_TAGS, _EXIF_IFD, _GPS_IFD, _INTEROP_IFD))

# (EXIF IFD, date tag, offset tag, name), in order of preference
_DATE_SOURCES = (
    ("Exif", _DT_ORIGINAL, _OFFSET_ORIGINAL, "DateTimeOriginal"),
    ("Exif", _DT_DIGITIZED, _OFFSET_DIGITIZED, "DateTimeDigitized"),
    ("0th", _DATETIME, _OFFSET, "DateTime"),
)
_DATE_RE = re.compile(
    r"^\s*(\d{4})[:/-](\d{1,2})[:/-](\d{1,2})[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?"
)
_OFFSET_RE = re.compile(r"^[+-]\d{2}:\d{2}$")
_XMP_ORIENTATION_RE = re.compile(rb'tiff:Orientation(="|>)([0-9])')  # as Pillow reads it

_PIEXIF_GROUPS = {"0th": "Image", "Exif": "Exif", "GPS": "GPS", "Interop": "Interop"}
_ASCII, _RATIONAL, _SRATIONAL = 2, 5, 10
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}


def read_metadata(path: Path, st: os.stat_result | None = None) -> ImageMetadata:
    """Read file facts and EXIF; never raises for bad EXIF (warnings list says what was skipped).

    Raises OSError only when the file itself cannot be stat'ed or opened.
    """
    if st is None:
        st = os.stat(path)
    meta = ImageMetadata(file_size=st.st_size, mtime=st.st_mtime)
    register_heif()
    with open(path, "rb") as fh:
        try:
            with Image.open(fh) as im:
                _read_image(im, path, meta)
        except UnidentifiedImageError:
            _warn(meta.warnings, "not an image format Pillow can open")
        except Exception as exc:  # a bad image must never fail its metadata
            _warn(meta.warnings, f"image could not be read: {_describe(exc)}")
    if meta.warnings:
        log.debug("%s: %s", path, "; ".join(meta.warnings))
    return meta


def _read_image(im: Image.Image, path: Path, meta: ImageMetadata) -> None:
    """Fill format, displayed size and the EXIF fields from an opened (not decoded) image."""
    meta.format = im.format
    meta.width, meta.height = _stored_size(im)
    ifds = _load_ifds(im, path, meta.file_size, meta.warnings)
    for name, step in _FIELD_STEPS:
        try:
            step(meta, ifds)
        except Exception as exc:  # one odd tag must not lose the others
            _warn(meta.warnings, f"{name} could not be read: {_describe(exc)}")
    if _ORIENTATION not in ifds.get("0th", {}):
        meta.orientation = _xmp_orientation(im.info)
    if meta.orientation in (5, 6, 7, 8):
        meta.width, meta.height = meta.height, meta.width


def _stored_size(im: Image.Image) -> tuple[int, int]:
    """Pixel size as stored; newer Pillow already reports TIFFs turned upright in im.size."""
    tags = getattr(im, "tag_v2", None) if im.format == "TIFF" else None
    width, height = (tags.get(256), tags.get(257)) if tags is not None else (None, None)
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return im.size


# --- loading the tags -------------------------------------------------------------------


def _load_ifds(im: Image.Image, path: Path, size: int, notes: list[str]) -> _Ifds:
    """EXIF tags as {"0th"|"Exif"|"GPS"|"Interop": {tag: value}}: piexif first, else Pillow."""
    try:
        data = _exif_bytes(im, path, size)
    except Exception as exc:
        _warn(notes, f"EXIF block could not be read: {_describe(exc)}")
        return {}
    if data is None:
        pillow_only = im.format == "TIFF" or "Raw profile type exif" in im.info
        return _pillow_ifds(im, notes) if pillow_only else {}
    try:
        _check_counts(data)
        return _from_piexif(piexif.load(data))
    except Exception as exc:
        _warn(notes, f"EXIF block is malformed ({_describe(exc)}); kept what Pillow could read")
        return _pillow_ifds(im, notes)


def _exif_bytes(im: Image.Image, path: Path, size: int) -> bytes | None:
    """The EXIF block as TIFF bytes (no "Exif" header), or None when there is none to parse."""
    info_exif = im.info.get("exif")
    if isinstance(info_exif, bytes) and info_exif:
        start = info_exif.find(b"Exif\x00\x00", 0, 16)
        data = info_exif[start + 6 :] if start >= 0 else info_exif
    elif im.format == "TIFF" and size <= _PIEXIF_TIFF_LIMIT:
        data = path.read_bytes()
        if data[:4] not in (b"II*\x00", b"MM\x00*"):
            return None  # BigTIFF: piexif cannot, Pillow can
    else:
        return None
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        raise ValueError(f"EXIF block starts with {data[:4]!r}, not a TIFF header")
    return data


def _check_counts(tiff: bytes) -> None:
    """Refuse value counts larger than the block itself: piexif would allocate them first."""
    endian = "<" if tiff[:2] == b"II" else ">"
    todo = [struct.unpack_from(endian + "L", tiff, 4)[0]]
    seen: set[int] = set()
    while todo and len(seen) < 8:
        offset = todo.pop()
        if offset < 8 or offset in seen or offset + 2 > len(tiff):
            continue
        seen.add(offset)
        (count,) = struct.unpack_from(endian + "H", tiff, offset)
        end = min(offset + 2 + 12 * count, len(tiff) - 11)
        for pos in range(offset + 2, end, 12):
            tag, kind, n, value = struct.unpack_from(endian + "HHLL", tiff, pos)
            if n * _TYPE_SIZES.get(kind, 1) > len(tiff):
                raise ValueError(f"tag 0x{tag:04X} claims {n} values, more than the block holds")
            if tag in (_EXIF_IFD, _GPS_IFD, _INTEROP_IFD):
                todo.append(value)
        if len(seen) == 1 and offset + 6 + 12 * count <= len(tiff):  # 0th -> 1st IFD
            todo.append(struct.unpack_from(endian + "L", tiff, offset + 2 + 12 * count)[0])


def _from_piexif(raw: dict[str, Any]) -> _Ifds:
    """piexif's dict with ASCII decoded to str and rationals turned into floats."""
    ifds: _Ifds = {}
    for name, group in _PIEXIF_GROUPS.items():
        tags = raw.get(name)
        if isinstance(tags, dict):
            ifds[name] = {tag: _norm_piexif(group, tag, v) for tag, v in tags.items()}
    return ifds


def _norm_piexif(group: str, tag: int, value: Any) -> Any:
    kind = piexif.TAGS[group].get(tag, {}).get("type")
    if kind == _ASCII and isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if kind in (_RATIONAL, _SRATIONAL):
        if _is_pair(value):
            return _divide(*value)
        if isinstance(value, tuple) and all(_is_pair(v) for v in value):
            return tuple(_divide(*v) for v in value)
    return value


def _is_pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(type(v) is int for v in value)


def _divide(num: int, den: int) -> float:
    return num / den if den else math.nan


def _pillow_ifds(im: Image.Image, notes: list[str]) -> _Ifds:
    """The same tags through Pillow, which is more forgiving of broken blocks."""
    try:
        exif = im.getexif()
    except Exception as exc:
        _warn(notes, f"Pillow could not read EXIF either: {_describe(exc)}")
        return {}
    ifds: _Ifds = {"0th": {tag: _norm_pillow(v) for tag, v in exif.items()}}
    for name, pointer in (("Exif", _EXIF_IFD), ("GPS", _GPS_IFD), ("Interop", _INTEROP_IFD)):
        try:
            ifds[name] = {tag: _norm_pillow(v) for tag, v in exif.get_ifd(pointer).items()}
        except Exception as exc:
            _warn(notes, f"EXIF {name} directory could not be read: {_describe(exc)}")
    return ifds


def _norm_pillow(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_norm_pillow(v) for v in value)
    if isinstance(value, numbers.Rational) and not isinstance(value, int):
        return _divide(int(value.numerator), int(value.denominator))
    return value


def _xmp_orientation(info: dict[Any, Any]) -> int | None:
    """tiff:Orientation from XMP, which Pillow's exif_transpose honours when EXIF has none."""
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", errors="replace")
    match = _XMP_ORIENTATION_RE.search(xmp) if isinstance(xmp, bytes) else None
    value = int(match[2]) if match else None
    return value if value in range(1, 9) else None


# --- the named fields -------------------------------------------------------------------


def _set_orientation(meta: ImageMetadata, ifds: _Ifds) -> None:
    raw = ifds.get("0th", {}).get(_ORIENTATION)
    if raw is None:
        return
    value = _int(raw)
    if value in range(1, 9):
        meta.orientation = value
    else:
        _warn(meta.warnings, f"Orientation {_render(raw)!r} is not 1..8; ignored")


def _set_camera(meta: ImageMetadata, ifds: _Ifds) -> None:
    zeroth, exif = ifds.get("0th", {}), ifds.get("Exif", {})
    meta.camera_make = _text(zeroth.get(_MAKE))
    meta.camera_model = _text(zeroth.get(_MODEL))
    lens_make, lens_model = _text(exif.get(_LENS_MAKE)), _text(exif.get(_LENS_MODEL))
    if lens_make and lens_model and not lens_model.lower().startswith(lens_make.lower()):
        meta.lens = f"{lens_make} {lens_model}"
    else:
        meta.lens = lens_model


def _set_exposure(meta: ImageMetadata, ifds: _Ifds) -> None:
    exif = ifds.get("Exif", {})
    meta.f_number = _positive(exif.get(_FNUMBER))
    meta.focal_length = _positive(exif.get(_FOCAL))
    meta.exposure_time = _exposure_text(_positive(exif.get(_EXPOSURE), digits=None))
    iso = _int(exif.get(_ISO))
    meta.iso = iso if iso is not None and iso > 0 else None


def _positive(value: Any, digits: int | None = 2) -> float | None:
    number = _num(value)
    if number is None or number <= 0:
        return None
    return round(number, digits) if digits is not None else number


def _exposure_text(seconds: float | None) -> str | None:
    """Shutter speed as photographers write it: "1/250" below 1/4 s, else "0.3", "2.5", "15"."""
    if seconds is None:
        return None
    if seconds < 0.25001:
        return f"1/{round(1 / seconds)}"
    return f"{seconds:.1f}".removesuffix(".0")


def _set_taken_at(meta: ImageMetadata, ifds: _Ifds) -> None:
    for ifd, date_tag, offset_tag, name in _DATE_SOURCES:
        raw = _text(ifds.get(ifd, {}).get(date_tag))
        if not raw or not raw.strip(" :0-"):
            if raw:
                _warn(meta.warnings, f"{name} {raw!r} is not a date; ignored")
            continue
        when = _parse_date(raw)
        if when is None:
            _warn(meta.warnings, f"{name} {raw!r} is not a valid date; ignored")
            continue
        meta.taken_at = when + _offset(ifds.get("Exif", {}).get(offset_tag), meta.warnings)
        return


def _parse_date(raw: str) -> str | None:
    match = _DATE_RE.match(raw)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
    try:
        when = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return when.isoformat()


def _offset(value: Any, notes: list[str]) -> str:
    text = _text(value)
    if not text:
        return ""
    if _OFFSET_RE.match(text) and int(text[1:3]) <= 14 and int(text[4:]) < 60:
        return text
    _warn(notes, f"time zone offset {text!r} is not like +02:00; ignored")
    return ""


def _set_gps(meta: ImageMetadata, ifds: _Ifds) -> None:
    gps = ifds.get("GPS", {})
    if 2 not in gps and 4 not in gps:
        return
    lat, lon = _dms(gps.get(2)), _dms(gps.get(4))
    if lat is None or lon is None:
        _warn(meta.warnings, "GPS position is incomplete or unreadable; ignored")
        return
    lat = -abs(lat) if _ref(gps.get(1)) == "S" else lat
    lon = -abs(lon) if _ref(gps.get(3)) == "W" else lon
    if lat == 0 and lon == 0:
        _warn(meta.warnings, "GPS position is 0,0 (no fix); ignored")
    elif abs(lat) > 90 or abs(lon) > 180:
        _warn(meta.warnings, f"GPS position {lat:.6f},{lon:.6f} is out of range; ignored")
    else:
        meta.gps = {"lat": round(lat, 7), "lon": round(lon, 7)}
        _add_altitude(meta, gps)


def _add_altitude(meta: ImageMetadata, gps: dict[int, Any]) -> None:
    alt = _num(gps.get(6))
    if alt is None or meta.gps is None:
        return
    if abs(alt) > 100_000:
        _warn(meta.warnings, f"GPS altitude {alt:.0f} m is implausible; ignored")
        return
    meta.gps["alt"] = round(-abs(alt) if _int(gps.get(5)) == 1 else alt, 2)


def _dms(value: Any) -> float | None:
    """Degrees, minutes, seconds (1..3 parts) as decimal degrees."""
    parts = value[:3] if isinstance(value, tuple) else (value,)
    total = 0.0
    for index, part in enumerate(parts):
        number = _num(part)
        if number is None or number < 0:
            return None
        total += number / 60.0**index
    return total if parts else None


def _ref(value: Any) -> str:
    return (_text(value) or "")[:1].upper()


def _set_raw(meta: ImageMetadata, ifds: _Ifds) -> None:
    """Readable raw tags, bounded: blobs skipped, each value cut to 200 chars, 100 tags."""
    for ifd, tags in ifds.items():
        for tag, value in sorted(tags.items()):
            if len(meta.exif) >= _MAX_TAGS:
                return
            text = None if tag in _SKIP_TAGS else _raw_text(tag, value)
            if text:
                meta.exif[_tag_name(ifd, tag, meta.exif)] = _truncate(text)


def _raw_text(tag: int, value: Any) -> str | None:
    if tag == _USER_COMMENT:
        is_ascii = isinstance(value, bytes) and value.startswith(b"ASCII\x00\x00\x00")
        return _clean(value[8:].decode("ascii", errors="replace")) if is_ascii else None
    if tag in _XP_TAGS and isinstance(value, tuple | bytes):
        return _clean(bytes(value).decode("utf-16-le", errors="replace"))
    return _render(value)


def _tag_name(ifd: str, tag: int, taken: dict[str, str]) -> str:
    group = _PIEXIF_GROUPS.get(ifd, "Image")
    name = piexif.TAGS[group].get(tag, {}).get("name")
    if not isinstance(name, str):
        name = ExifTags.GPSTAGS.get(tag) if ifd == "GPS" else ExifTags.TAGS.get(tag)
    name = name or f"0x{tag:04X}"
    return f"{ifd}.{name}" if name in taken else name


_FIELD_STEPS: tuple[tuple[str, Callable[[ImageMetadata, _Ifds], None]], ...] = (
    ("Orientation", _set_orientation),
    ("camera and lens", _set_camera),
    ("date taken", _set_taken_at),
    ("exposure", _set_exposure),
    ("GPS position", _set_gps),
    ("raw EXIF", _set_raw),
)


# --- value helpers ----------------------------------------------------------------------


def _num(value: Any) -> float | None:
    """A finite number from an EXIF value (first item of a multi-valued tag)."""
    if isinstance(value, tuple) and value:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    if isinstance(value, tuple) and value:
        value = value[0]
    if isinstance(value, bytes) and len(value) == 1:
        return value[0]
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    number = _num(value)
    return int(number) if number is not None else None


def _text(value: Any) -> str | None:
    """A tag as clean text: bytes decoded tolerantly, NULs and outer whitespace gone."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    return _clean(value) or None


def _render(value: Any) -> str | None:
    """Any tag value as short readable text, or None for binary blobs."""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, bytes):
        return _render_bytes(value)
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        items = [_render(v) or "?" for v in value[:_MAX_ITEMS]]
        return ", ".join(items) + (", …" if len(value) > _MAX_ITEMS else "")
    return None


def _render_bytes(value: bytes) -> str | None:
    text = _clean(value[: _MAX_CHARS * 4].decode("utf-8", errors="replace"))
    printable = sum(ch.isprintable() for ch in text)
    if text and printable >= 0.9 * len(text) and "\ufffd" not in text[:8]:
        return text
    if len(value) <= 16:
        return " ".join(str(b) for b in value)  # e.g. ComponentsConfiguration "1 2 3 0"
    return None


def _clean(text: str) -> str:
    """Valid UTF-8 (no lone surrogates), no NULs, no outer whitespace."""
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text.strip(" \t\r\n\x00").replace("\x00", " ")


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, struct.error):
        return f"truncated or corrupt data: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _warn(notes: list[str], message: str) -> None:
    notes.append(_truncate(_clean(message)))
