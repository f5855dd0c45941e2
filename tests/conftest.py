"""Shared fixtures: the real photos, a temporary data folder, the real core services."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

if os.environ.get("INGEST_GUI_BLOCK_QT"):
    # Prove the core runs with no Qt installed: any import of a Qt binding fails loudly.
    import importlib.abc
    import sys

    class _NoQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
            if name.split(".")[0] in {"PySide6", "shiboken6", "qasync", "PyQt5", "PyQt6"}:
                raise ImportError(f"{name} is blocked: the core must not need Qt")
            return None

    sys.meta_path.insert(0, _NoQt())

from tests.mlserver import ml_server  # noqa: F401  (a real HTTP inference server)

PHOTOS = Path(
    os.environ.get("INGEST_GUI_PHOTOS")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif", ".webp", ".gif", ".bmp"}


def photo_files(root: Path = PHOTOS) -> list[Path]:
    """Every image among the sample photos."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    if not PHOTOS.is_dir():
        pytest.fail(f"sample photos not found at {PHOTOS} (set INGEST_GUI_PHOTOS)")
    return PHOTOS


@pytest.fixture
def photos(tmp_path: Path, photos_dir: Path) -> Path:
    """A private copy of the sample photos (tests may write next to them)."""
    dest = tmp_path / "photos"
    shutil.copytree(photos_dir, dest, copy_function=shutil.copyfile)
    for folder in [dest, *(p for p in dest.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)  # the shared copy is read-only; ours must not be
    return dest


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh INGEST_GUI_DATA_DIR; no setting leaks in from the machine."""
    root = tmp_path / "data"
    monkeypatch.setenv("INGEST_GUI_DATA_DIR", str(root))
    for var in (
        "ML_INFERENCE_SERVICE_URL", "QDRANT_HOST", "QDRANT_PORT", "QDRANT_VECTOR_SIZE",
        "QDRANT_DISTANCE_METRIC", "ML_INFERENCE_BATCH_SIZE", "QDRANT_UPSERT_BATCH_SIZE",
        "QDRANT_URL", "QDRANT_API_KEY", "ML_INFERENCE_API_KEY", "INGEST_GUI_BACKEND",
        "ML_INFERENCE_MAX_IN_FLIGHT", "ML_INFERENCE_TIMEOUT",
    ):
        monkeypatch.delenv(var, raising=False)
    return root


@pytest.fixture
def services(data_dir: Path) -> Iterator[object]:
    """The real core services on an embedded store in the temp data folder."""
    from ingest_gui.core.services import Services
    from ingest_gui.core.settings import load_settings

    svc = Services(load_settings())
    yield svc
    svc.close()


@pytest.fixture(autouse=True)
def _no_real_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never read or write the user's real keyring, here or in subprocesses."""
    import keyring
    from keyring.backends import null

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    keyring.set_keyring(null.Keyring())
    yield
    keyring.set_keyring(null.Keyring())


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves job or pool threads running."""
    before = set(threading.enumerate())
    yield
    leaked = []
    for t in set(threading.enumerate()) - before:
        if t.name.startswith(("prep-", "infer-", "job-")):
            t.join(timeout=5)
            if t.is_alive():
                leaked.append(t.name)
    assert not leaked, f"threads left running: {leaked}"
