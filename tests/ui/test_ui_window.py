"""The window as a whole: choosing a collection on drop, menus, quitting, window state."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from ingest_gui.core.jobs import JobState
from ingest_gui.core.manager import CollectionManager
from ingest_gui.ui.main_window import MainWindow
from tests.mlserver import FakeMLServer
from tests.ui.conftest import WindowFactory, close_window
from tests.ui.helpers import create_collection, drop, last_job, wait_finished


def test_drop_without_an_active_collection_asks_which(
    qtbot: QtBot, window: MainWindow, photos: Path
) -> None:
    create_collection(qtbot, window, "alpha")
    create_collection(qtbot, window, "beta")
    CollectionManager(window.services).delete("beta")  # leaves no active collection
    create_collection(qtbot, window, "gamma")
    window.collections.confirm = lambda *_a: True
    window.collections.ask_delete()  # deletes gamma, the active one
    qtbot.waitUntil(lambda: window.collections.active is None)

    assert drop(window, [photos / "tiff"])
    dialog = window.choose_dialog
    assert dialog is not None and dialog.isVisible()
    assert window.jobs.rows == {}  # nothing starts before the answer
    assert dialog.list.count() == 1
    dialog.list.setCurrentRow(0)
    dialog.accept()
    qtbot.waitUntil(lambda: bool(window.jobs.rows))
    job = last_job(window)
    assert job.collection == "alpha"
    assert window.collections.active == "alpha"  # chosen once, remembered
    wait_finished(qtbot, window, job)


def test_drop_with_no_collections_creates_one(
    qtbot: QtBot, window: MainWindow, photos: Path
) -> None:
    assert drop(window, [photos / "heic"])
    chooser = window.choose_dialog
    assert chooser is not None
    qtbot.mouseClick(chooser.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.collections.create_dialog is not None)
    create = window.collections.create_dialog
    assert create is not None
    create.name.setText("fresh")
    create.accept()
    qtbot.waitUntil(lambda: bool(window.jobs.rows), timeout=10_000)
    job = last_job(window)
    assert job.collection == "fresh"
    wait_finished(qtbot, window, job)
    assert job.counters.ingested == 1


def test_add_folder_from_the_menu(qtbot: QtBot, window: MainWindow, photos: Path) -> None:
    create_collection(qtbot, window, "holidays")
    window.pick_folder = lambda: photos / "tiff"  # stands in for the native folder dialog
    assert window.menu_actions.add_folder.shortcut().toString() == "Ctrl+O"
    window.menu_actions.add_folder.trigger()
    job = last_job(window)
    assert job.folders == [photos / "tiff"]
    wait_finished(qtbot, window, job)
    assert job.state is JobState.COMPLETED


def test_quitting_with_a_running_job_asks_first(
    qtbot: QtBot, make_window: WindowFactory, ml_server: FakeMLServer, photos: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ML_INFERENCE_SERVICE_URL", ml_server.url)
    window = make_window()
    create_collection(qtbot, window, "slow", backend="http")
    ml_server.delay_s = 1.0
    assert drop(window, [photos])
    job = last_job(window)
    qtbot.waitUntil(lambda: job.state is JobState.RUNNING)

    asked: list[str] = []
    window.confirm = lambda _p, _t, text, _y="": asked.append(text) or False  # "keep running"
    window.close()
    assert window.isVisible() and job.state is JobState.RUNNING
    assert asked == ["A job is still running. Cancel and quit?\nWhat they have done so far is kept."]

    window.confirm = lambda *_a: True
    window.close()
    assert not window.isVisible()
    assert job.state is JobState.CANCELLED  # shut down: cancelled and waited for
    assert window.pool.activeThreadCount() == 0


def test_window_geometry_is_restored(qtbot: QtBot, make_window: WindowFactory) -> None:
    first = make_window()
    first.resize(700, 500)  # within the offscreen screen (800x600): restoring clamps to it
    first.splitter.setSizes([260, 420])
    sizes = first.splitter.sizes()
    close_window(qtbot, first)
    second = make_window()
    assert (second.width(), second.height()) == (700, 500)
    assert second.splitter.sizes() == sizes
    assert (Path(second.services.settings.data_dir) / "window.ini").is_file()


def test_about_names_the_versions(window: MainWindow) -> None:
    import platform

    import PySide6

    text = window.about_text()
    assert "Ingest GUI 0.1.0" in text
    assert f"PySide6 {PySide6.__version__}" in text
    assert "qdrant-client 1." in text
    assert f"Python {platform.python_version()}" in text
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus == ["&File", "&Collections", "&Jobs", "&Help"]
    assert QApplication.instance() is not None


def test_folders_given_at_start_wait_for_the_collection_list(
    qtbot: QtBot, qloop: object, data_dir: Path, photos: Path
) -> None:
    from ingest_gui.core.services import Services
    from ingest_gui.core.settings import load_settings

    services = Services(load_settings())
    CollectionManager(services).create("ready")
    CollectionManager(services).select("ready")
    window = MainWindow(services)
    assert window.add_paths([photos / "tiff"]) is None  # as app.main does before the loop runs
    assert window.choose_dialog is None  # not asked: the active collection is not known yet
    window.show()
    try:
        qtbot.waitUntil(lambda: bool(window.jobs.rows), timeout=10_000)
        job = last_job(window)
        assert job.collection == "ready"
        wait_finished(qtbot, window, job)
    finally:
        close_window(qtbot, window)
