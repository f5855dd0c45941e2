"""The settings dialog: persisted values, environment variables read-only, restart notes."""

from __future__ import annotations

import json

import pytest
from pytestqt.qtbot import QtBot

from ingest_gui.core.settings import load_settings
from ingest_gui.ui import settings_dialog
from ingest_gui.ui.main_window import MainWindow
from ingest_gui.ui.settings_dialog import SettingsDialog
from tests.ui.conftest import WindowFactory


@pytest.fixture(autouse=True)
def _no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read or write the real user's keyring."""
    monkeypatch.setattr(settings_dialog, "keyring_status", lambda: None)


def open_dialog(qtbot: QtBot, window: MainWindow) -> SettingsDialog:
    window.menu_actions.settings.trigger()
    qtbot.waitUntil(lambda: window.settings_dialog is not None)
    assert window.settings_dialog is not None
    return window.settings_dialog


def test_settings_are_saved_and_env_values_stay_read_only(
    qtbot: QtBot, make_window: WindowFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QDRANT_VECTOR_SIZE", "256")
    window = make_window()
    dialog = open_dialog(qtbot, window)
    size = dialog.editors["vector_size"]
    assert not size.isEnabled()
    assert dialog.notes["vector_size"] == "set by environment variable QDRANT_VECTOR_SIZE"
    assert not dialog.editors["qdrant_api_key"].isEnabled()  # no keyring here: env only
    assert dialog.notes["qdrant_api_key"] == (
        "no keyring on this system: set the environment variable QDRANT_API_KEY"
    )
    assert dialog.editors["ml_batch_size"].isEnabled()

    dialog.editors["ml_batch_size"].setValue(16)  # type: ignore[attr-defined]
    dialog.editors["ml_url"].setText("http://127.0.0.1:9999")  # type: ignore[attr-defined]
    assert dialog.edited() == {"ml_batch_size": 16, "ml_url": "http://127.0.0.1:9999"}
    path = window.services.settings.data_dir / "settings.json"
    dialog.accept()
    qtbot.waitUntil(lambda: window.services.settings.ml_batch_size == 16)
    assert "after a restart" in window.statusBar().currentMessage()
    saved = json.loads(path.read_text())["values"]
    assert saved["ml_batch_size"] == 16 and saved["ml_url"] == "http://127.0.0.1:9999"
    assert saved["vector_size"] == 512  # the environment's 256 is not written to the file
    # the ML URL needs new services: the running ones keep the old one until restart
    assert window.services.settings.ml_url == "http://localhost:8001"
    monkeypatch.delenv("QDRANT_VECTOR_SIZE")
    assert load_settings().ml_batch_size == 16


def test_a_bad_value_keeps_the_dialog_open(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window()
    dialog = open_dialog(qtbot, window)
    dialog.editors["ml_url"].setText("ftp://nowhere")  # type: ignore[attr-defined]
    dialog.accept()
    assert dialog.isVisible()
    assert "must start with http://" in dialog.problem.text()
    dialog.reject()


def test_api_keys_go_to_the_keyring_never_to_the_file(
    qtbot: QtBot, make_window: WindowFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved: dict[str, str | None] = {}
    monkeypatch.setattr(settings_dialog, "keyring_status", lambda: "Test")
    monkeypatch.setattr(
        "ingest_gui.core.secrets.set_secret", lambda var, value: saved.update({var: value}) or True
    )
    window = make_window()
    dialog = open_dialog(qtbot, window)
    key = dialog.editors["ml_api_key"]
    assert key.isEnabled()
    assert dialog.notes["ml_api_key"] == "kept in the Test keyring, never in a file"
    key.setText("s3cret")  # type: ignore[attr-defined]
    dialog.accept()
    qtbot.waitUntil(lambda: saved.get("ML_INFERENCE_API_KEY") == "s3cret")
    path = window.services.settings.data_dir / "settings.json"
    assert not path.exists() or "s3cret" not in path.read_text()
