"""Create, select, delete and clear collections through the panel's widgets and dialogs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox
from pytestqt.qtbot import QtBot

from ingest_gui.core.manager import CollectionManager
from ingest_gui.ui.main_window import MainWindow
from tests.ui.helpers import create_collection, drop, last_job, wait_finished


def _answer(answer: bool) -> object:
    """Stands in for the modal QMessageBox question: a click on Yes or Cancel."""
    asked: list[str] = []

    def confirm(_parent: object, _title: str, text: str, _yes: str = "OK") -> bool:
        asked.append(text)
        return answer

    confirm.asked = asked  # type: ignore[attr-defined]
    return confirm


def test_create_in_the_dialog(qtbot: QtBot, window: MainWindow) -> None:
    panel = window.collections
    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    dialog = panel.create_dialog
    assert dialog is not None and dialog.isVisible()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)

    assert not ok.isEnabled()  # no name yet
    dialog.name.setText("bad/name")
    assert not ok.isEnabled()
    assert "invalid collection name" in dialog.problem.text()

    dialog.name.setText("holidays")
    dialog.vector_size.setValue(256)
    dialog.distance.setCurrentText("Euclid")
    assert ok.isEnabled() and dialog.problem.text() == ""
    with qtbot.waitSignal(panel.created, timeout=10_000):
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: panel.names() == ["holidays"])
    assert panel.active == "holidays"  # a new collection becomes the active one
    model = panel.model
    assert model.data(model.index(0, 1), Qt.ItemDataRole.DisplayRole) == "0"
    assert "builtin" in model.data(model.index(0, 2), Qt.ItemDataRole.DisplayRole)
    assert model.data(model.index(0, 3), Qt.ItemDataRole.DisplayRole) == "256 · Euclid"
    assert "holidays" in window.active_label.text()

    # the dialog knows the names already taken
    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    again = panel.create_dialog
    assert again is not None
    again.name.setText("Holidays")
    assert "already exists" in again.problem.text()
    assert not again.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    again.reject()


def test_an_error_from_the_core_is_a_readable_message(qtbot: QtBot, window: MainWindow) -> None:
    create_collection(qtbot, window, "a")
    from ingest_gui.ui.dialogs import NewCollection

    with qtbot.waitSignal(window.collections.error) as blocker:
        new = NewCollection("a", 512, "Cosine", "builtin")
        window.tasks.spawn(window.collections.create_collection(new))
    assert blocker.args == ["Could not create 'a': collection 'a' already exists"]
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "already exists" in boxes[-1].text()
    assert "Traceback" not in boxes[-1].text()


def test_select_delete_and_clear_cache(
    qtbot: QtBot, window: MainWindow, photos: Path
) -> None:
    panel = window.collections
    create_collection(qtbot, window, "holidays")
    create_collection(qtbot, window, "work", backend="http")
    assert panel.active == "work"
    assert "http (not used yet)" in panel.model.data(panel.model.index(1, 2))

    # clicking a row makes that collection the active one, remembered by the core
    rect = panel.table.visualRect(panel.model.index(0, 0))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: panel.active == "holidays")
    assert CollectionManager(window.services).active() == "holidays"

    # clear the active collection's cache, after a confirmation
    assert drop(window, [photos / "tiff"])
    wait_finished(qtbot, window, last_job(window))
    panel.confirm = _answer(True)
    with qtbot.waitSignal(panel.message) as blocker:
        qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["Cleared 8 cached results of holidays"]
    assert "holidays" in panel.confirm.asked[0]  # type: ignore[attr-defined]

    # delete asks first; "Cancel" keeps the collection
    panel.confirm = _answer(False)
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert panel.names() == ["holidays", "work"]
    assert "8 points" in panel.confirm.asked[0]  # type: ignore[attr-defined]

    panel.confirm = _answer(True)
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.names() == ["work"])
    assert panel.active is None
    assert CollectionManager(window.services).active() is None
    assert not panel.delete_button.isEnabled()
    assert window.active_label.text() == "No active collection"

    # selecting by keyboard works the same way
    sel = panel.table.selectionModel()
    sel.setCurrentIndex(panel.model.index(0, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    qtbot.waitUntil(lambda: panel.active == "work")


def test_a_collection_a_job_writes_to_cannot_be_deleted(
    qtbot: QtBot, window: MainWindow, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = window.collections
    create_collection(qtbot, window, "busy")
    monkeypatch.setattr(window.queue, "collections_in_use", lambda: {"busy"})
    panel.busy = window.queue.collections_in_use
    panel.confirm = _answer(True)
    with qtbot.waitSignal(panel.error) as blocker:
        qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert "cancel it before deleting" in blocker.args[0]
    assert panel.names() == ["busy"]
