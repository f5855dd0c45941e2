"""Dropping folders and images on the window: what is accepted, and the drop highlight."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QObject, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from ingest_gui.core.scanning import is_image_name


@dataclass(frozen=True)
class DropPlan:
    """The dropped items split into those we ingest and those we refuse."""

    accepted: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def plan_drop(mime: QMimeData) -> DropPlan:
    """Local folders and image files are accepted; anything else (text, web links) refused.

    One stat per dropped item tells a folder from a file: bounded by what the person holds,
    never a walk of the folder (the scan runs in the job).
    """
    accepted: list[Path] = []
    refused: list[str] = []
    if not mime.hasUrls():
        return DropPlan([], ["not files"] if mime.formats() else [])
    for url in mime.urls():
        if not url.isLocalFile():
            refused.append(url.toString())
            continue
        path = Path(url.toLocalFile())
        if os.path.isdir(path) or (is_image_name(path.name) and os.path.isfile(path)):
            accepted.append(path)
        else:
            refused.append(str(path))
    return DropPlan(accepted, refused)


class DropOverlay(QWidget):
    """A translucent panel with a dashed border over the window while a drag hovers."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._host = parent
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setObjectName("dropOverlay")
        self.text = ""
        self.hide()
        parent.installEventFilter(self)

    def show_for(self, text: str) -> None:
        self.text = text
        self.setGeometry(self._host.rect())
        self.raise_()
        self.show()
        self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._host and event.type() == QEvent.Type.Resize:
            self.setGeometry(self._host.rect())
        return False

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(12, 12, -12, -12)
        painter.fillRect(self.rect(), QColor(255, 255, 255, 200))
        painter.fillRect(rect, QColor(37, 99, 235, 28))
        painter.setPen(QPen(QColor(37, 99, 235), 3, Qt.PenStyle.DashLine))
        painter.drawRoundedRect(rect, 12, 12)
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        painter.setFont(font)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.text)
        painter.end()
