"""Who the application is to the desktop, and where its bundled files live (Qt-free)."""

from __future__ import annotations

import sys
from pathlib import Path

# Reverse-DNS id: the .desktop file, the icons, the AppStream metainfo and
# QGuiApplication.setDesktopFileName all use it, so the desktop can match a window to them.
APP_ID = "io.github.ingest_gui.IngestGui"
APP_NAME = "Ingest GUI"
EXECUTABLE = "ingest-gui"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def resources_dir() -> Path:
    """The package's resources folder (inside the bundle when frozen)."""
    return Path(__file__).resolve().with_name("resources")


def icons_dir() -> Path:
    """PNG icons `<size>.png` and the scalable `icon.svg`."""
    return resources_dir() / "icons"


def icon_png(size: int) -> Path:
    """The square PNG icon of one of ICON_SIZES."""
    return icons_dir() / f"{size}.png"


def icon_files() -> list[Path]:
    """Every PNG icon that exists, smallest first (for QIcon.addFile)."""
    return [p for p in (icon_png(s) for s in ICON_SIZES) if p.is_file()]


def samples_dir() -> Path:
    """One small JPEG with EXIF and one small HEIC, used by `--self-test`."""
    return resources_dir() / "samples"


def is_frozen() -> bool:
    """True inside a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))
