"""The window's look: a light style sheet and a painted application icon (no files to load)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap, QPolygonF

STYLE_SHEET = """
QLabel#panelTitle { font-size: 15px; font-weight: 600; padding: 2px 0 6px 0; }
QLabel#note { color: #6b7280; }
QLabel#problem { color: #b91c1c; }
QLabel#dropHint {
    color: #6b7280; font-size: 14px; padding: 48px;
    border: 2px dashed #cbd5e1; border-radius: 12px;
}
QFrame#jobRow { background: #ffffff; border: 1px solid #e5e7eb; border-radius: 8px; }
QFrame#jobRow QLabel { background: transparent; }
QLabel#jobCounts, QLabel#jobPace { color: #374151; }
QProgressBar {
    border: 1px solid #d1d5db; border-radius: 5px; background: #f3f4f6;
    height: 16px; text-align: center;
}
QProgressBar::chunk { background: #3b82f6; border-radius: 4px; }
QTableView { background: #ffffff; alternate-background-color: #f8fafc; border: 1px solid #e5e7eb; }
QTableView::item:selected { background: #dbeafe; color: #111827; }
QStatusBar QLabel { padding: 0 8px; }
"""


def app_icon() -> QIcon:
    """A blue rounded square holding a white 'photo' mark."""
    icon = QIcon()
    for size in (16, 32, 64, 128, 256):
        pm = QPixmap(size, size)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        s = float(size)
        p.setBrush(QColor("#2563eb"))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRoundedRect(QRectF(0, 0, s, s), s * 0.2, s * 0.2)
        p.setBrush(QColor("#ffffff"))
        p.drawEllipse(QRectF(s * 0.56, s * 0.2, s * 0.2, s * 0.2))
        p.drawPolygon(QPolygonF([
            QPointF(s * 0.15, s * 0.8), QPointF(s * 0.4, s * 0.42), QPointF(s * 0.58, s * 0.66),
            QPointF(s * 0.7, s * 0.54), QPointF(s * 0.85, s * 0.8),
        ]))
        p.end()
        icon.addPixmap(pm)
    return icon
