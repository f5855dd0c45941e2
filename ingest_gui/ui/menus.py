"""The window's menus and shortcuts, and the About text."""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from ingest_gui import __version__
from ingest_gui.appinfo import APP_NAME
from ingest_gui.core.logs import LOG_NAME
from ingest_gui.core.settings import Settings

if TYPE_CHECKING:
    from ingest_gui.ui.main_window import MainWindow

Shortcut = QKeySequence | QKeySequence.StandardKey | str | None


@dataclass(frozen=True)
class Actions:
    """The actions tests and other code reach for."""

    add_folder: QAction
    settings: QAction
    quit: QAction
    about: QAction


def build_menus(window: MainWindow) -> Actions:
    """File, Collections, Jobs and Help menus on the window's menu bar."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    add_folder = _action(window, file_menu, "&Add folder…", window.add_folder,
                         QKeySequence.StandardKey.Open)
    file_menu.addSeparator()
    settings = _action(window, file_menu, "&Settings…", window.open_settings, "Ctrl+,")
    file_menu.addSeparator()
    quit_ = _action(window, file_menu, "&Quit", window.close, "Ctrl+Q")

    panel = window.collections
    col_menu = bar.addMenu("&Collections")
    _action(window, col_menu, "&New…", lambda: panel.ask_create(), "Ctrl+N")
    _action(window, col_menu, "&Delete…", panel.ask_delete)
    _action(window, col_menu, "&Clear cache…", panel.ask_clear_cache)
    _action(window, col_menu, "&Refresh", lambda: window.tasks.spawn(panel.refresh()), "F5")

    jobs_menu = bar.addMenu("&Jobs")
    _action(window, jobs_menu, "&Cancel all", window.queue.cancel_all)
    _action(window, jobs_menu, "C&lear finished", window.jobs.clear_finished, "Ctrl+L")

    help_menu = bar.addMenu("&Help")
    _action(window, help_menu, "Open &log folder", window.open_log_folder)
    about = _action(window, help_menu, f"&About {APP_NAME}", window.show_about)
    return Actions(add_folder, settings, quit_, about)


def _action(
    window: MainWindow, menu: QMenu, text: str, slot: Callable[[], object], shortcut: Shortcut = None
) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(lambda _checked=False: slot())
    menu.addAction(action)
    return action


def about_html(settings: Settings) -> str:
    """Versions of the app, Qt/PySide6, qdrant-client and Python; where files go."""
    return (
        f"<h3>{APP_NAME} {__version__}</h3>"
        "<p>Turns folders of photos into a searchable Qdrant vector collection.</p>"
        f"<p>Qt {qVersion()} · PySide6 {PySide6.__version__}<br>"
        f"qdrant-client {_version('qdrant-client')} · qdrant-edge {_version('qdrant-edge-py')}<br>"
        f"Python {platform.python_version()} on {sys.platform}</p>"
        f"<p>Data folder: {settings.data_dir}<br>Log file: {settings.log_dir / LOG_NAME}<br>"
        f"Vector store: {settings.describe_qdrant()}</p>"
    )


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
