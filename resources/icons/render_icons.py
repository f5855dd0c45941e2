"""Render the master SVG icon into the package's PNG icons (run after editing the SVG).

    QT_QPA_PLATFORM=offscreen python resources/icons/render_icons.py

Writes ingest_gui/resources/icons/<size>.png for every size in appinfo.ICON_SIZES and a
copy of the SVG as icon.svg; the PNGs are committed, so building needs no SVG renderer.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ingest_gui.appinfo import APP_ID, ICON_SIZES, icons_dir  # noqa: E402

MASTER = Path(__file__).with_name(f"{APP_ID}.svg")


def render(renderer: QSvgRenderer, size: int, dest: Path) -> None:
    """One square PNG with a transparent background."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    if not image.save(str(dest), "PNG"):
        raise SystemExit(f"cannot write {dest}")


def main() -> int:
    """Render every size and copy the SVG beside them."""
    app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(MASTER))
    if not renderer.isValid():
        raise SystemExit(f"{MASTER} is not a valid SVG")
    out = icons_dir()
    out.mkdir(parents=True, exist_ok=True)
    for size in ICON_SIZES:
        render(renderer, size, out / f"{size}.png")
    shutil.copyfile(MASTER, out / "icon.svg")
    print(f"rendered {len(ICON_SIZES)} PNGs into {out}")
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
