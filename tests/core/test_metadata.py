"""EXIF and file facts from real camera photos; malformed metadata never fails an image."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
from pathlib import Path

import piexif
import pytest
from PIL import Image, ImageOps

from ingest_gui.core.metadata import ImageMetadata, read_metadata

PHOTOS = Path(
    os.environ.get(
        "INGEST_GUI_PHOTOS",
        Path(__file__).resolve().parents[3] / "shared" / "data" / "photos",
    )
)
needs_photos = pytest.mark.skipif(not PHOTOS.is_dir(), reason=f"no sample photos at {PHOTOS}")
ALL_PHOTOS = (
    sorted(p for p in PHOTOS.rglob("*") if p.is_file() and p.suffix.lower() != ".md")
    if PHOTOS.is_dir()
    else []
)


def meta_of(relative: str) -> ImageMetadata:
    return read_metadata(PHOTOS / relative)


def jpeg_with_exif(path: Path, exif: bytes, size: tuple[int, int] = (40, 30)) -> Path:
    """A small real JPEG whose APP1 segment holds exactly these EXIF bytes."""
    buf = io.BytesIO()
    Image.new("RGB", size, "teal").save(buf, "JPEG")
    data = buf.getvalue()
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    path.write_bytes(data[:2] + app1 + data[2:])
    return path


def jpeg_with_tags(path: Path, **ifds: dict[int, object]) -> Path:
    return jpeg_with_exif(path, piexif.dump({"0th": {}, "Exif": {}, "GPS": {}, **ifds}))


def dms(degrees: int, minutes: int, seconds_x100: int) -> tuple[tuple[int, int], ...]:
    return ((degrees, 1), (minutes, 1), (seconds_x100, 100))


# --- real photos ---------------------------------------------------------------------------


@needs_photos
def test_canon_40d_camera_exposure_and_date() -> None:
    path = PHOTOS / "jpg" / "Canon_40D.jpg"
    meta = read_metadata(path)
    assert (meta.camera_make, meta.camera_model) == ("Canon", "Canon EOS 40D")
    assert meta.taken_at == "2008-05-30T15:56:01"
    assert meta.f_number == 7.1
    assert meta.exposure_time == "1/160"
    assert meta.iso == 100
    assert meta.focal_length == 135.0
    assert (meta.format, meta.width, meta.height, meta.orientation) == ("JPEG", 100, 68, 1)
    st = path.stat()
    assert (meta.file_size, meta.mtime) == (st.st_size, st.st_mtime)
    assert meta.gps is None  # the file has a GPS directory holding only GPSVersionID
    assert meta.warnings == []


@needs_photos
def test_date_falls_back_to_datetime_and_short_seconds_are_padded() -> None:
    # Photoshop dropped DateTimeOriginal; the Kodak writes "09:47:2" with one seconds digit
    assert meta_of("jpg/Canon_40D_photoshop_import.jpg").taken_at == "2008-07-31T10:05:49"
    assert meta_of("jpg/Kodak_CX7530.jpg").taken_at == "2005-08-13T09:47:02"


@needs_photos
def test_camera_names_lose_padding() -> None:
    assert meta_of("jpg/Pentax_K10D.jpg").camera_make == "PENTAX Corporation"  # "... "
    assert meta_of("jpg/WWL_(Polaroid)_ION230.jpg").camera_make == "WWL"  # "WWL     "
    assert meta_of("jpg/Konica_Minolta_DiMAGE_Z3.jpg").camera_make == "KONICA MINOLTA"


@needs_photos
def test_gps_decimal_degrees_from_nikon() -> None:
    meta = meta_of("jpg/gps/DSCN0010.jpg")
    assert meta.gps is not None
    # 43° 28' 2.814" N, 11° 53' 6.456" E
    assert round(meta.gps["lat"], 4) == 43.4674
    assert round(meta.gps["lon"], 4) == 11.8851
    assert "alt" not in meta.gps  # AltitudeRef is set, but there is no GPSAltitude tag
    assert meta.camera_model == "COOLPIX P6000"


@needs_photos
def test_every_gps_sample_lies_in_the_same_town() -> None:
    for path in sorted((PHOTOS / "jpg" / "gps").glob("*.jpg")):
        gps = read_metadata(path).gps
        assert gps is not None, path.name
        assert 43.46 < gps["lat"] < 43.47 and 11.87 < gps["lon"] < 11.89, (path.name, gps)


@needs_photos
def test_gps_southern_hemisphere_is_negative() -> None:
    gps = meta_of("jpg/Kodak_CX7530.jpg").gps  # 0° 22.278' S, 36° 3.385' E
    assert gps is not None
    assert round(gps["lat"], 4) == -0.3713
    assert round(gps["lon"], 4) == 36.0564


@needs_photos
@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("shape", ["landscape", "portrait"])
def test_orientation_gives_displayed_size(shape: str, orientation: int) -> None:
    path = PHOTOS / "jpg" / "orientation" / f"{shape}_{orientation}.jpg"
    meta = read_metadata(path)
    assert meta.orientation == orientation
    displayed = (600, 450) if shape == "landscape" else (450, 600)
    assert (meta.width, meta.height) == displayed
    with Image.open(path) as im:
        stored = im.size
    rotated = orientation >= 5
    assert stored == (displayed[::-1] if rotated else displayed)


@needs_photos
def test_landscape_6_is_stored_upright_but_displayed_wide() -> None:
    upright, rotated = (
        meta_of("jpg/orientation/landscape_1.jpg"),
        meta_of("jpg/orientation/landscape_6.jpg"),
    )
    assert (upright.orientation, rotated.orientation) == (1, 6)
    assert (rotated.width, rotated.height) == (upright.width, upright.height) == (600, 450)
    with Image.open(PHOTOS / "jpg" / "orientation" / "landscape_6.jpg") as im:
        assert im.width < im.height  # the pixels are portrait; EXIF turns them


@needs_photos
def test_invalid_folder_still_yields_size_and_format() -> None:
    files = sorted((PHOTOS / "jpg" / "invalid").glob("*.jpg"))
    assert len(files) >= 5
    for path in files:
        meta = read_metadata(path)
        assert meta.format == "JPEG", path.name
        assert meta.width and meta.height, path.name
        assert meta.file_size == path.stat().st_size
        assert meta.orientation in (None, 1)  # XMP-only files: tiff:Orientation 1 or nothing


@needs_photos
def test_invalid_folder_orientation_from_xmp() -> None:
    # image00971 has no EXIF block at all, only XMP with tiff:Orientation 1
    meta = meta_of("jpg/invalid/image00971.jpg")
    assert (meta.width, meta.height, meta.orientation) == (636, 227, 1)


@needs_photos
def test_non_ascii_tiff_name() -> None:
    meta = meta_of("tiff/Crémieux11.tiff")
    assert (meta.format, meta.width, meta.height) == ("TIFF", 199, 47)
    assert meta.taken_at == "2012-01-09T22:52:11"
    assert meta.exif["Artist"] == "Jean Cornillon"
    assert meta.exif["Software"].startswith("Mac OS X")


@needs_photos
def test_heif_format_and_size() -> None:
    meta = meta_of("heic/samplefilehub.heif")
    assert (meta.format, meta.width, meta.height) == ("HEIF", 640, 426)
    assert meta.orientation == 1
    assert meta.warnings == []


@needs_photos
def test_long_description_is_cut_to_200_chars() -> None:
    text = meta_of("jpg/long_description.jpg").exif["ImageDescription"]
    assert text.startswith("Operation Mountain Viper")
    assert len(text) == 200 and text.endswith("…")


@needs_photos
def test_maker_note_blob_is_not_copied() -> None:
    path = PHOTOS / "jpg" / "Konica_Minolta_DiMAGE_Z3.jpg"
    raw = piexif.load(str(path))["Exif"]
    assert len(raw[piexif.ExifIFD.MakerNote]) > 30_000  # the blob is there
    exif = read_metadata(path).exif
    assert "MakerNote" not in exif and "JPEGInterchangeFormat" not in exif
    assert "UserComment" not in exif  # 8-byte charset header followed by NULs only
    assert exif["ComponentsConfiguration"] == "1 2 3 0"  # short binary shown as numbers
    assert exif["ExifVersion"] == "0220"


@needs_photos
def test_ascii_user_comment_is_kept_as_text() -> None:
    exif = meta_of("jpg/PaintTool_sample.jpg").exif
    assert exif["UserComment"].startswith("a5cb01550dbb")


@needs_photos
@pytest.mark.parametrize("path", ALL_PHOTOS, ids=[str(p.relative_to(PHOTOS)) for p in ALL_PHOTOS])
def test_payload_is_strict_json_and_bounded(path: Path) -> None:
    meta = read_metadata(path)
    text = json.dumps(meta.to_payload(), allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")  # strict: fails on lone surrogates
    assert "\x00" not in text and "\\u0000" not in text
    assert meta.width and meta.height and meta.format
    assert len(meta.exif) <= 100
    assert all(len(value) <= 200 for value in meta.exif.values())
    assert len(json.dumps(meta.exif)) < 32_000


# --- synthetic EXIF on a real JPEG ------------------------------------------------------------


def test_zero_date_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = jpeg_with_tags(
        tmp_path / "zero.jpg",
        Exif={piexif.ExifIFD.DateTimeOriginal: b"0000:00:00 00:00:00"},
    )
    meta = read_metadata(path)
    assert meta.taken_at is None
    assert any("DateTimeOriginal" in w and "0000:00:00" in w for w in meta.warnings)


def test_invalid_original_date_falls_back_to_digitized_with_offset(tmp_path: Path) -> None:
    path = jpeg_with_tags(
        tmp_path / "dates.jpg",
        Exif={
            piexif.ExifIFD.DateTimeOriginal: b"2019:13:45 99:00:00",
            piexif.ExifIFD.DateTimeDigitized: b"2019:06:01 08:30:00",
            piexif.ExifIFD.OffsetTimeDigitized: b"+02:00",
        },
    )
    meta = read_metadata(path)
    assert meta.taken_at == "2019-06-01T08:30:00+02:00"
    assert len(meta.warnings) == 1 and "DateTimeOriginal" in meta.warnings[0]


def test_offset_time_original_is_appended(tmp_path: Path) -> None:
    path = jpeg_with_tags(
        tmp_path / "tz.jpg",
        Exif={
            piexif.ExifIFD.DateTimeOriginal: b"2021:03:04 05:06:07",
            piexif.ExifIFD.OffsetTimeOriginal: b"-05:00",
        },
    )
    assert read_metadata(path).taken_at == "2021-03-04T05:06:07-05:00"


def test_gps_zero_is_ignored(tmp_path: Path) -> None:
    path = jpeg_with_tags(
        tmp_path / "nofix.jpg",
        GPS={1: b"N", 2: dms(0, 0, 0), 3: b"E", 4: dms(0, 0, 0)},
    )
    meta = read_metadata(path)
    assert meta.gps is None
    assert any("GPS" in w for w in meta.warnings)


def test_gps_out_of_range_is_ignored(tmp_path: Path) -> None:
    path = jpeg_with_tags(
        tmp_path / "far.jpg",
        GPS={1: b"N", 2: dms(95, 0, 0), 3: b"E", 4: dms(10, 0, 0)},
    )
    meta = read_metadata(path)
    assert meta.gps is None
    assert any("out of range" in w for w in meta.warnings)


def test_gps_west_and_below_sea_level(tmp_path: Path) -> None:
    path = jpeg_with_tags(
        tmp_path / "deadsea.jpg",
        GPS={
            1: b"N",
            2: dms(31, 30, 0),
            3: b"W",
            4: dms(35, 30, 0),
            5: 1,
            6: (4305, 10),
        },
    )
    assert read_metadata(path).gps == {"lat": 31.5, "lon": -35.5, "alt": -430.5}


def test_text_cleanup_lens_and_long_exposure(tmp_path: Path) -> None:
    path = jpeg_with_tags(
        tmp_path / "text.jpg",
        **{
            "0th": {
                piexif.ImageIFD.Make: b"  NIKON\x00\x00\x00",
                piexif.ImageIFD.Model: b"D\xffX\x00junk",  # not UTF-8, NUL inside
            },
            "Exif": {
                piexif.ExifIFD.LensMake: b"Sigma",
                piexif.ExifIFD.LensModel: b"35mm F1.4 DG HSM",
                piexif.ExifIFD.ExposureTime: (5, 2),
                piexif.ExifIFD.ISOSpeedRatings: (400, 800),
                piexif.ExifIFD.FocalLength: (35, 1),
                piexif.ExifIFD.FNumber: (14, 10),
            },
        },
    )
    meta = read_metadata(path)
    assert meta.camera_make == "NIKON"
    assert meta.camera_model == "D\ufffdX junk"
    assert meta.lens == "Sigma 35mm F1.4 DG HSM"
    assert (meta.exposure_time, meta.iso, meta.focal_length, meta.f_number) == (
        "2.5",
        400,
        35.0,
        1.4,
    )
    json.dumps(meta.to_payload(), allow_nan=False).encode("utf-8")


def test_bad_orientation_is_ignored(tmp_path: Path) -> None:
    path = jpeg_with_tags(tmp_path / "o.jpg", **{"0th": {piexif.ImageIFD.Orientation: 9}})
    meta = read_metadata(path)
    assert meta.orientation is None and (meta.width, meta.height) == (40, 30)
    assert any("Orientation" in w for w in meta.warnings)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_huge_value_count_does_not_allocate(tmp_path: Path) -> None:
    # One IFD entry: Make, ASCII, claiming ~4 billion characters in a 40-byte block.
    tiff = (
        b"II*\x00"
        + struct.pack("<LH", 8, 1)
        + struct.pack("<HHLL", piexif.ImageIFD.Make, 2, 0xFFFFFFF0, 26)
        + b"\x00" * 4
        + b"Canon\x00"
    )
    meta = read_metadata(jpeg_with_exif(tmp_path / "bomb.jpg", b"Exif\x00\x00" + tiff))
    assert (meta.width, meta.height) == (40, 30)
    assert meta.camera_make is None
    assert any("4294967280" in w for w in meta.warnings)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's own "corrupt EXIF" warnings
@pytest.mark.parametrize(
    "exif",
    [
        b"Exif\x00\x00" + b"garbage" * 10,
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff",  # IFD says 65535 entries, has none
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",  # 0th IFD pointer far past the end
    ],
    ids=["garbage", "truncated", "bad-pointer"],
)
def test_broken_exif_keeps_the_image(tmp_path: Path, exif: bytes) -> None:
    meta = read_metadata(jpeg_with_exif(tmp_path / "broken.jpg", exif, size=(64, 48)))
    assert (meta.format, meta.width, meta.height) == ("JPEG", 64, 48)
    assert meta.warnings
    json.dumps(meta.to_payload(), allow_nan=False)


@pytest.mark.parametrize(
    ("name", "options"),
    [("turned.jpg", {}), ("turned.tif", {}), ("turned-big.tif", {"big_tiff": True})],
)
def test_displayed_size_matches_what_the_pipeline_decodes(
    tmp_path: Path, name: str, options: dict[str, object]
) -> None:
    # Pillow 13 already reports TIFFs upright in im.size; JPEGs it does not: no double swap.
    exif = Image.Exif()
    exif[piexif.ImageIFD.Orientation] = 6
    exif[piexif.ImageIFD.Make] = "Acme"
    path = tmp_path / name
    Image.new("RGB", (60, 20), "navy").save(path, exif=exif, **options)
    meta = read_metadata(path)
    with Image.open(path) as im:
        im.load()
        shown = ImageOps.exif_transpose(im).size
    assert (meta.orientation, meta.camera_make) == (6, "Acme")
    assert (meta.width, meta.height) == shown == (20, 60)


def test_not_an_image_keeps_file_facts(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("not a picture")
    meta = read_metadata(path)
    assert (meta.file_size, meta.format, meta.width) == (13, None, None)
    assert meta.warnings == ["not an image format Pillow can open"]


def test_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_metadata(tmp_path / "gone.jpg")


@needs_photos
def test_given_stat_is_used(tmp_path: Path) -> None:
    path = Path(shutil.copy(PHOTOS / "jpg" / "Canon_40D.jpg", tmp_path / "copy.jpg"))
    os.utime(path, (1_000_000_000.5, 1_000_000_000.5))
    st = path.stat()
    path.write_bytes(path.read_bytes() + b"\x00" * 10)  # file changes after the scan's stat
    meta = read_metadata(path, st)
    assert (meta.file_size, meta.mtime) == (st.st_size, 1_000_000_000.5)
    assert meta.camera_model == "Canon EOS 40D"
