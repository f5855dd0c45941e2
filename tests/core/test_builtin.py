"""Built-in backend: descriptors that find the same picture, captions that state facts."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingest_gui.core.imaging import load_prepared
from ingest_gui.core.inference.base import ImageInput
from ingest_gui.core.inference.builtin import BuiltinBackend, caption, describe
from ingest_gui.core.metadata import ImageMetadata

PHOTOS = Path(
    os.environ.get(
        "INGEST_GUI_PHOTOS",
        Path(__file__).resolve().parents[3] / "shared" / "data" / "photos",
    )
)
needs_photos = pytest.mark.skipif(not PHOTOS.is_dir(), reason=f"no sample photos at {PHOTOS}")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".tif", ".tiff", ".heic", ".heif", ".png"}


def photo(relative: str) -> Image.Image:
    """A sample photo as the ingest pipeline hands it to a backend."""
    return load_prepared(PHOTOS / relative)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two unit vectors."""
    return float(np.dot(a, b))


def downscaled_jpeg(img: Image.Image, tmp_path: Path) -> Image.Image:
    """The same picture at half size, saved as JPEG and read back, as a user's copy would be."""
    half = img.resize((max(1, img.width // 2), max(1, img.height // 2)), Image.Resampling.LANCZOS)
    target = tmp_path / "copy.jpg"
    half.save(target, format="JPEG", quality=85)
    return load_prepared(target)


def gradient_image() -> Image.Image:
    """A synthetic image with colour and structure, for tests that need no photos."""
    x = np.linspace(0, 255, 120, dtype=np.float32)
    y = np.linspace(0, 255, 80, dtype=np.float32)[:, None]
    red, green = np.broadcast_to(x, (80, 120)), np.broadcast_to(y, (80, 120))
    rgb = np.stack([red, green, (x + y) % 256], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


# ------------------------------------------------------------------------------ vectors


@pytest.mark.parametrize("size", [512, 256, 768])
def test_descriptor_is_deterministic_unit_length_and_sized(size: int) -> None:
    img = gradient_image()
    first = describe(img, size)
    second = describe(img.copy(), size)
    assert first.dtype == np.float32
    assert first.shape == (size,)
    assert np.array_equal(first, second)
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-5)


def test_backend_vectors_match_its_size_and_name() -> None:
    for size in (256, 512, 768):
        backend = BuiltinBackend(size)
        [result] = backend.embed_images([ImageInput("a", "a.png", gradient_image())])
        assert result.error is None and result.embedding is not None
        assert len(result.embedding) == size
        assert result.model == backend.model_name == f"builtin-pixels-v1-{size}"
        assert "clip" not in backend.model_name.lower()


def test_different_pictures_give_different_vectors() -> None:
    blue = describe(Image.new("RGB", (100, 100), (20, 40, 220)))
    red = describe(Image.new("RGB", (100, 100), (220, 30, 20)))
    assert cosine(blue, red) < 0.9


@needs_photos
def test_same_scene_scores_closer_than_other_cameras() -> None:
    scene = describe(photo("jpg/orientation/landscape_1.jpg"))
    same = cosine(scene, describe(photo("jpg/orientation/landscape_6.jpg")))
    others = [
        cosine(scene, describe(photo(p)))
        for p in ("jpg/Canon_40D.jpg", "jpg/gps/DSCN0010.jpg", "jpg/Nikon_D70.jpg")
    ]
    assert same > 0.9
    assert same > max(others) + 0.3


@needs_photos
def test_same_scene_stays_closest_after_projection() -> None:
    for size in (256, 768):
        scene = describe(photo("jpg/orientation/landscape_1.jpg"), size)
        same = cosine(scene, describe(photo("jpg/orientation/landscape_6.jpg"), size))
        other = cosine(scene, describe(photo("jpg/gps/DSCN0010.jpg"), size))
        assert same > other + 0.3


@pytest.fixture(scope="module")
def library() -> tuple[list[str], np.ndarray]:
    """Every sample photo's relative name and descriptor, computed once."""
    paths = sorted(p for p in PHOTOS.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    names = [p.relative_to(PHOTOS).as_posix() for p in paths]
    return names, np.stack([describe(load_prepared(p)) for p in paths])


@needs_photos
@pytest.mark.parametrize(
    "query",
    [
        "jpg/Canon_40D.jpg",
        "jpg/Nikon_D70.jpg",
        "jpg/gps/DSCN0010.jpg",
        "jpg/gps/DSCN0025.jpg",
        "jpg/Reconyx_HC500_Hyperfire.jpg",
        "jpg/orientation/portrait_1.jpg",
        "heic/samplefilehub.heif",
        "tiff/BSG1.tiff",
    ],
)
def test_downscaled_copy_finds_its_original_first(
    query: str, library: tuple[list[str], np.ndarray], tmp_path: Path
) -> None:
    names, vectors = library
    copy = describe(downscaled_jpeg(photo(query), tmp_path))
    scores = vectors @ copy
    ranked = [names[i] for i in np.argsort(-scores)]
    assert ranked[0] == query
    assert scores[names.index(query)] > 0.9


# ------------------------------------------------------------------------------ captions


def test_caption_of_solid_blue_landscape() -> None:
    text = caption(Image.new("RGB", (200, 100), (0, 0, 255)), None)
    assert "blue" in text
    assert "landscape" in text
    assert text.endswith(".") and text[0].isupper()


def test_caption_orientation_follows_shape() -> None:
    assert "portrait" in caption(Image.new("RGB", (100, 200), (0, 160, 0)), None)
    assert "square" in caption(Image.new("RGB", (150, 150), (0, 160, 0)), None)
    assert "green" in caption(Image.new("RGB", (150, 150), (0, 160, 0)), None)


def test_caption_of_dark_image() -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 30, size=(90, 120, 3), dtype=np.uint8)
    text = caption(Image.fromarray(pixels, "RGB"), None)
    assert "dark" in text


def test_caption_names_camera_once_and_date() -> None:
    meta = ImageMetadata(
        file_size=1,
        mtime=0,
        camera_make="Canon",
        camera_model="Canon EOS 40D",
        taken_at="2008-05-30T15:56:01",
    )
    text = caption(Image.new("RGB", (100, 68), (90, 120, 40)), meta)
    assert text.count("Canon EOS 40D") == 1
    assert "Canon Canon" not in text
    assert "30 May 2008" in text
    assert "GPS" not in text


@needs_photos
def test_caption_of_real_canon_photo() -> None:
    meta = ImageMetadata(
        file_size=1,
        mtime=0,
        camera_make="Canon",
        camera_model="Canon EOS 40D",
        taken_at="2008-05-30T15:56:01",
        gps={"lat": 43.47, "lon": 11.88},
    )
    text = caption(photo("jpg/Canon_40D.jpg"), meta)
    assert text.count("Canon EOS 40D") == 1
    assert "2008" in text
    assert "landscape" in text
    assert "with GPS location" in text


def test_caption_adds_make_when_model_lacks_it() -> None:
    meta = ImageMetadata(
        file_size=1, mtime=0, camera_make="OLYMPUS IMAGING CORP.", camera_model="C8080WZ"
    )
    text = caption(gradient_image(), meta)
    assert "OLYMPUS C8080WZ" in text
    assert "CORP" not in text


# ------------------------------------------------------------------------------ backend


def truncated_jpeg() -> Image.Image:
    """An image whose pixel data stops half-way: opening works, loading raises."""
    buf = io.BytesIO()
    gradient_image().resize((400, 300)).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    return Image.open(io.BytesIO(data[: len(data) // 3]))


def test_one_broken_image_does_not_fail_the_batch() -> None:
    items = [
        ImageInput("good-1", "good1.png", gradient_image()),
        ImageInput("truncated", "bad.jpg", truncated_jpeg()),
        ImageInput("empty", "empty.png", Image.new("RGB", (0, 0))),
        ImageInput("good-2", "good2.png", Image.new("RGB", (64, 48), (200, 30, 30))),
    ]
    results = BuiltinBackend().embed_images(items)
    assert [r.unique_id for r in results] == ["good-1", "truncated", "empty", "good-2"]
    for result in (results[0], results[3]):
        assert result.error is None
        assert result.embedding is not None and len(result.embedding) == 512
        assert result.caption
    for result in (results[1], results[2]):
        assert result.embedding is None
        assert result.error
    assert "empty" in (results[2].error or "")


def test_caption_can_be_skipped() -> None:
    [result] = BuiltinBackend().embed_images(
        [ImageInput("a", "a.png", gradient_image())], caption=False
    )
    assert result.caption is None
    assert result.embedding is not None


def test_backend_has_no_text_model_and_is_healthy() -> None:
    backend = BuiltinBackend()
    assert backend.kind == "builtin"
    assert backend.embed_text("a waterfall") is None
    health = backend.health()
    assert health.ok and health.detail == "built-in"
    backend.close()


def test_concurrent_batches_match_serial_results() -> None:
    backend = BuiltinBackend(256)
    images = [gradient_image().rotate(angle) for angle in range(0, 80, 10)]
    items = [ImageInput(str(i), "x.png", im) for i, im in enumerate(images)]
    serial = backend.embed_images(items)
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda item: backend.embed_images([item])[0], items))
    assert [r.embedding for r in parallel] == [r.embedding for r in serial]
