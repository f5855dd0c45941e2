"""Built-in backend: a deterministic pixel descriptor and a factual caption, no service needed.

The descriptor (512 dims before any projection) is four blocks, each normalised on its own:
  colour   128  joint HSV histogram, 8 hue x 4 saturation x 4 value, soft-binned
  layout   192  8x8 grid of mean YCbCr colours
  texture  128  gradient-orientation histograms, 4x4 cells x 8 bins, magnitude weighted
  global    64  luminance/saturation/gradient histograms and 16 scalar statistics
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from ingest_gui.core.inference.base import HealthStatus, ImageInput, InferenceResult

if TYPE_CHECKING:
    from ingest_gui.core.metadata import ImageMetadata

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float32]
IntArray = NDArray[np.intp]

NATIVE_SIZE = 512
_WORK = 64  # working resolution: enough for layout and texture, cheap enough for < 5 ms
_GRID = 8  # layout grid
_CELLS = 4  # texture grid
_EPS = 1e-8
# Block weights: colour and layout carry most of what people call "looks alike".
_WEIGHTS = {"colour": 1.0, "layout": 1.0, "texture": 0.8, "global": 0.6}

_projections: dict[int, FloatArray] = {}
_projection_lock = threading.Lock()


# ---------------------------------------------------------------------------- descriptor


def describe(image: Image.Image, vector_size: int = NATIVE_SIZE) -> FloatArray:
    """Return an L2-normalised float32 descriptor of the image's pixels."""
    if vector_size < 1:
        raise ValueError(f"vector size must be positive, got {vector_size}")
    small, aspect = _working_copy(image)
    rgb = np.asarray(small, dtype=np.float32) / 255.0
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32) / 255.0
    ycc = np.asarray(small.convert("YCbCr"), dtype=np.float32) / 255.0
    gx, gy = _gradients(ycc[..., 0])
    blocks = [
        _WEIGHTS["colour"] * _unit(_centred(np.sqrt(_hsv_histogram(hsv)))),
        _WEIGHTS["layout"] * _unit(_layout(ycc)),
        _WEIGHTS["texture"] * _unit(_centred(np.sqrt(_orientation_histograms(gx, gy)))),
        _WEIGHTS["global"] * _unit(_global_stats(rgb, hsv, ycc, gx, gy, aspect)),
    ]
    vec = _unit(np.concatenate(blocks))
    if vector_size != NATIVE_SIZE:
        vec = _unit(vec @ _projection(vector_size))
    return vec.astype(np.float32)


def _working_copy(image: Image.Image) -> tuple[Image.Image, float]:
    """Return the image as RGB at the working size, and its original aspect (w/h)."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ValueError(f"image is empty ({width}x{height} px)")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    # BOX averages whole source areas, so downscaled copies of a photo land on the same pixels
    return rgb.resize((_WORK, _WORK), Image.Resampling.BOX), width / height


def _unit(vec: FloatArray) -> FloatArray:
    """Scale to unit length; an all-zero block stays zero."""
    norm = float(np.linalg.norm(vec))
    return np.asarray(vec / norm if norm > _EPS else vec, dtype=np.float32)


def _centred(vec: FloatArray) -> FloatArray:
    """Subtract the mean so histogram blocks compare like correlations, not all near 1."""
    return np.asarray(vec - vec.mean(), dtype=np.float32)


def _soft_axis(
    values: NDArray[np.floating[Any]], bins: int, circular: bool
) -> tuple[IntArray, IntArray, FloatArray]:
    """Lower and upper neighbour bin of each value in [0, 1], and the upper one's weight.

    Soft binning splits each value between the two nearest bin centres, so a small shift in
    colour or angle moves weight gradually instead of jumping a whole bin.
    """
    pos = values.ravel() * bins - 0.5
    if circular:
        floor = np.floor(pos)
        low = floor.astype(np.intp) % bins
        return low, (low + 1) % bins, (pos - floor).astype(np.float32)
    pos = np.clip(pos, 0.0, bins - 1.0)
    floor = np.minimum(np.floor(pos), bins - 2)
    low = floor.astype(np.intp)
    return low, low + 1, (pos - floor).astype(np.float32)


def _normalised(hist: NDArray[Any]) -> FloatArray:
    """Scale a histogram to sum 1 (an empty one stays zero)."""
    return (hist / max(float(hist.sum()), _EPS)).astype(np.float32)


def _histogram_1d(values: FloatArray, bins: int) -> FloatArray:
    """Soft-binned histogram of values in [0, 1], normalised to sum 1."""
    low, high, frac = _soft_axis(values, bins, circular=False)
    return _normalised(np.bincount(low, 1 - frac, bins) + np.bincount(high, frac, bins))


def _hsv_histogram(hsv: FloatArray) -> FloatArray:
    """Joint 8x4x4 HSV histogram with trilinear soft binning (hue wraps around)."""
    h0, h1, hf = _soft_axis(hsv[..., 0], 8, circular=True)
    s0, s1, sf = _soft_axis(hsv[..., 1], 4, circular=False)
    v0, v1, vf = _soft_axis(hsv[..., 2], 4, circular=False)
    idx: list[IntArray] = []
    wts: list[FloatArray] = []
    for h, hw in ((h0, 1 - hf), (h1, hf)):
        for s, sw in ((s0, 1 - sf), (s1, sf)):
            for v, vw in ((v0, 1 - vf), (v1, vf)):
                idx.append((h * 4 + s) * 4 + v)
                wts.append(hw * sw * vw)
    return _normalised(np.bincount(np.concatenate(idx), np.concatenate(wts), 128))


def _layout(ycc: FloatArray) -> FloatArray:
    """Mean colour of each cell of an 8x8 grid, centred on mid-grey."""
    cell = _WORK // _GRID
    means = ycc.reshape(_GRID, cell, _GRID, cell, 3).mean(axis=(1, 3))
    # chroma varies far less than luma in photos; doubling it keeps hue from being drowned out
    scaled = (means - 0.5) * np.array([1.0, 2.0, 2.0], dtype=np.float32)
    return np.asarray(scaled.ravel(), dtype=np.float32)


def _gradients(lum: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Central-difference gradients (zero on the border)."""
    gx = np.zeros_like(lum)
    gy = np.zeros_like(lum)
    gx[:, 1:-1] = (lum[:, 2:] - lum[:, :-2]) * 0.5
    gy[1:-1, :] = (lum[2:, :] - lum[:-2, :]) * 0.5
    return gx, gy


def _orientation_histograms(gx: FloatArray, gy: FloatArray) -> FloatArray:
    """8-bin unsigned orientation histogram per cell of a 4x4 grid, magnitude weighted."""
    mag = np.hypot(gx, gy).ravel()
    angle = np.arctan2(gy, gx) % np.pi  # unsigned: an edge is the same edge both ways
    low, high, frac = _soft_axis(angle / np.pi, 8, circular=True)
    rows, cols = np.indices(gx.shape)
    cell_size = _WORK // _CELLS
    cell = ((rows // cell_size) * _CELLS + cols // cell_size).ravel() * 8
    size = _CELLS * _CELLS * 8
    hist = np.bincount(cell + low, mag * (1 - frac), size)
    return _normalised(hist + np.bincount(cell + high, mag * frac, size))


def _global_stats(
    rgb: FloatArray,
    hsv: FloatArray,
    ycc: FloatArray,
    gx: FloatArray,
    gy: FloatArray,
    aspect: float,
) -> FloatArray:
    """Whole-image histograms (32 luma, 8 saturation, 8 gradient) and 16 scalar statistics."""
    lum, sat = ycc[..., 0], hsv[..., 1]
    mag = np.hypot(gx, gy)
    # gradient magnitudes are heavy-tailed; a square root spreads the common small ones out
    histograms = [
        _histogram_1d(lum, 32),
        _histogram_1d(sat, 8),
        _histogram_1d(np.clip(np.sqrt(mag / 0.5), 0.0, 1.0), 8),
    ]
    hist_part = np.concatenate([_centred(np.sqrt(h)) for h in histograms])
    return np.concatenate([hist_part, _scalars(rgb, lum, sat, ycc, gx, gy, mag, aspect)])


def _scalars(
    rgb: FloatArray,
    lum: FloatArray,
    sat: FloatArray,
    ycc: FloatArray,
    gx: FloatArray,
    gy: FloatArray,
    mag: FloatArray,
    aspect: float,
) -> FloatArray:
    """Sixteen statistics, each roughly centred on 0 and within [-1, 1]."""
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    energy_x, energy_y = float((gx**2).sum()), float((gy**2).sum())
    half = _WORK // 2
    stats = [
        lum.mean() - 0.5,
        lum.std() * 2 - 0.4,
        (ycc[..., 1].mean() - 0.5) * 4,
        (ycc[..., 2].mean() - 0.5) * 4,
        ycc[..., 1].std() * 4,
        ycc[..., 2].std() * 4,
        sat.mean() - 0.3,
        sat.std() * 2 - 0.3,
        colourfulness * 2 - 0.5,
        (mag > 0.05).mean() * 2 - 0.5,
        (mag > 0.15).mean() * 4 - 0.2,
        (energy_x - energy_y) / max(energy_x + energy_y, _EPS),
        (lum[:half].mean() - lum[half:].mean()) * 2,
        (lum[:, :half].mean() - lum[:, half:].mean()) * 2,
        (lum < 0.15).mean() - (lum > 0.85).mean(),
        np.clip(np.log2(aspect), -2.0, 2.0) * 0.5,
    ]
    return np.asarray(stats, dtype=np.float32)


def _projection(vector_size: int) -> FloatArray:
    """Fixed-seed Gaussian projection from the native 512 dims, built once per size."""
    with _projection_lock:
        matrix = _projections.get(vector_size)
        if matrix is None:
            rng = np.random.default_rng(20240531 + vector_size)
            matrix = rng.standard_normal((NATIVE_SIZE, vector_size)).astype(np.float32)
            matrix /= np.sqrt(vector_size)
            matrix.setflags(write=False)  # shared between threads: must never change
            _projections[vector_size] = matrix
        return matrix


# ------------------------------------------------------------------------------- caption

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
# Corporate words that make a camera make long without telling the user anything.
_MAKE_NOISE = {
    "corporation", "corp", "corp.", "co.,", "co.", "ltd", "ltd.", "inc", "inc.", "company",
    "imaging", "optical", "camera", "camera,", "digital", "eastman", "techwin", "electronics",
}  # fmt: skip


def caption(image: Image.Image, metadata: ImageMetadata | None) -> str:
    """Describe the image in one plain sentence from measured pixels and metadata only."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ValueError(f"image is empty ({width}x{height} px)")
    small = (image if image.mode == "RGB" else image.convert("RGB")).resize(
        (_WORK, _WORK), Image.Resampling.BOX
    )
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32) / 255.0
    lum = np.asarray(small.convert("L"), dtype=np.float32) / 255.0
    camera = _camera_name(metadata)
    noun = "photo" if camera or (metadata and metadata.taken_at) else "image"
    adjectives = _tone_words(lum, hsv)
    head = " ".join([*adjectives, _orientation_word(width, height), noun])
    parts = [f"{_article(head).capitalize()} {head}"]
    colours = _colour_phrase(hsv)
    if colours:
        parts.append(f", mostly {colours}")
    if camera:
        parts.append(f", taken with {_article(camera)} {camera}")
    when = _date_words(metadata.taken_at if metadata else None)
    if when:
        parts.append(f" on {when}" if camera else f", taken on {when}")
    if metadata and metadata.gps:
        parts.append(", with GPS location")
    return "".join(parts) + "."


def _article(phrase: str) -> str:
    """'an' before a vowel sound (by spelling), else 'a'."""
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def _orientation_word(width: int, height: int) -> str:
    """landscape, portrait or square from the displayed shape (5% tolerance)."""
    if width > height * 1.05:
        return "landscape"
    if height > width * 1.05:
        return "portrait"
    return "square"


def _tone_words(lum: FloatArray, hsv: FloatArray) -> list[str]:
    """Brightness, contrast and black-and-white words, only where they are notable."""
    words: list[str] = []
    mean, spread = float(lum.mean()), float(lum.std())
    if mean < 0.22:
        words.append("dark")
    elif mean < 0.36:
        words.append("dim")
    elif mean > 0.68:
        words.append("bright")
    if spread < 0.02:
        words.append("plain")  # a flat field has no contrast to speak of
    elif spread < 0.09:
        words.append("low-contrast")
    elif spread > 0.3:
        words.append("high-contrast")
    if float(np.percentile(hsv[..., 1], 95)) < 0.08 and spread >= 0.02:
        words.append("black-and-white")
    return words


def _colour_names(hsv: FloatArray) -> IntArray:
    """Index into COLOUR_NAMES for every pixel, by hue/saturation/value rules."""
    h = hsv[..., 0].ravel() * 360.0
    s = hsv[..., 1].ravel()
    v = hsv[..., 2].ravel()
    hue_name = np.select(
        [h < 15, h < 45, h < 65, h < 170, h < 260, h < 290, h < 340],
        [3, 4, 5, 6, 7, 8, 9],
        default=3,
    )
    # brown is dark or washed-out orange; dark yellow reads as olive, i.e. green;
    # pink is light red; dark magenta reads purple
    dull = (v < 0.55) | ((s < 0.4) & (v < 0.75))
    hue_name = np.where((h >= 15) & (h < 50) & dull, 10, hue_name)
    hue_name = np.where((h >= 50) & (h < 65) & (v < 0.55), 6, hue_name)
    hue_name = np.where((hue_name == 3) & (v > 0.75) & (s < 0.45), 9, hue_name)
    hue_name = np.where((hue_name == 9) & (v < 0.45), 8, hue_name)
    grey = np.where(v > 0.85, 1, 2)
    names = np.where(s < 0.15, grey, hue_name)
    return np.where(v < 0.18, 0, names).astype(np.intp)


COLOUR_NAMES = (
    "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
)  # fmt: skip


def _colour_phrase(hsv: FloatArray) -> str:
    """'blue', 'blue and green' or 'blue, green and grey': the top names with a real share."""
    counts = np.bincount(_colour_names(hsv), minlength=len(COLOUR_NAMES))
    share = counts / max(int(counts.sum()), 1)
    order = np.argsort(-share, kind="stable")
    top = [COLOUR_NAMES[i] for i in order[:3] if share[i] >= 0.15]
    if not top:
        top = [COLOUR_NAMES[order[0]]]
    if len(top) == 1:
        return top[0]
    return ", ".join(top[:-1]) + " and " + top[-1]


def _camera_name(metadata: ImageMetadata | None) -> str:
    """Make and model as people say it: 'Canon EOS 40D', never 'Canon Canon EOS 40D'."""
    if metadata is None:
        return ""
    make = _clean(metadata.camera_make)
    model = _clean(metadata.camera_model)
    if not model:
        return make
    brand = [w for w in make.split() if w.lower() not in _MAKE_NOISE and len(w) > 1]
    if any(w.lower() in model.lower() for w in brand):
        return model
    return " ".join([*brand, model]) if brand else model


def _clean(text: str | None) -> str:
    """Strip NULs, stray brackets and runs of spaces that EXIF strings often carry."""
    if not text:
        return ""
    return " ".join(text.replace("\x00", " ").strip().strip("<>").split())


def _date_words(taken_at: str | None) -> str:
    """'30 May 2008' from ISO 8601 (or EXIF 'YYYY:MM:DD'); '' when unreadable."""
    if not taken_at:
        return ""
    text = taken_at.strip()
    if len(text) >= 10 and text[4] == ":" and text[7] == ":":
        text = f"{text[:4]}-{text[5:7]}-{text[8:]}"  # EXIF writes dates with colons
    try:
        when = datetime.fromisoformat(text[:10])
    except ValueError:
        return ""
    return f"{when.day} {_MONTHS[when.month - 1]} {when.year}"


# ------------------------------------------------------------------------------- backend


class BuiltinBackend:
    """In-process backend: pixel descriptors and factual captions, no text embeddings."""

    kind = "builtin"

    def __init__(self, vector_size: int = NATIVE_SIZE) -> None:
        """Remember the vector size; projection matrices are built lazily and shared."""
        if vector_size < 1:
            raise ValueError(f"vector size must be positive, got {vector_size}")
        self._vector_size = vector_size

    @property
    def model_name(self) -> str:
        """Name stored with the collection; says builtin so it is never mistaken for CLIP."""
        return f"builtin-pixels-v1-{self._vector_size}"

    def embed_images(self, items: list[ImageInput], caption: bool = True) -> list[InferenceResult]:
        """One result per item, in order; a failing image gets an error, not an exception."""
        return [self._embed_one(item, caption) for item in items]

    def _embed_one(self, item: ImageInput, want_caption: bool) -> InferenceResult:
        """Embed (and caption) one item, turning any failure into a readable error."""
        try:
            vec = describe(item.image, self._vector_size)
            text = caption(item.image, item.metadata) if want_caption else None
        except Exception as exc:  # one bad image must never fail the batch
            log.warning("built-in inference failed for %s: %s", item.filename, exc)
            return InferenceResult(
                unique_id=item.unique_id,
                error=f"could not analyse image: {type(exc).__name__}: {exc}",
                model=self.model_name,
            )
        return InferenceResult(
            unique_id=item.unique_id,
            embedding=[float(x) for x in vec],
            caption=text,
            model=self.model_name,
        )

    def embed_text(self, text: str) -> list[float] | None:
        """No text model here: text search needs the HTTP backend."""
        return None

    def health(self) -> HealthStatus:
        """Always ready: nothing to connect to."""
        return HealthStatus(ok=True, detail="built-in")

    def close(self) -> None:
        """Nothing to release."""
