"""The status bar: ML service and Qdrant health, checked without blocking; active collection."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from tests.mlserver import FakeMLServer
from tests.ui.conftest import WindowFactory
from tests.ui.helpers import create_collection


def test_ml_service_on_a_closed_port_is_unreachable(
    qtbot: QtBot, make_window: WindowFactory, monkeypatch: pytest.MonkeyPatch, unused_port: int
) -> None:
    monkeypatch.setenv("ML_INFERENCE_SERVICE_URL", f"http://127.0.0.1:{unused_port}")
    window = make_window()
    qtbot.waitUntil(lambda: window.ml_label.health is not None, timeout=15_000)
    assert window.ml_label.health is not None and not window.ml_label.health.ok
    assert window.ml_label.state_text.startswith("unreachable")
    assert "unreachable" in window.ml_label.text()
    assert f"127.0.0.1:{unused_port}" in window.ml_label.toolTip()
    # the embedded store is always there
    qtbot.waitUntil(lambda: window.qdrant_label.health is not None)
    assert window.qdrant_label.state_text == "ok"
    assert "embedded" in window.qdrant_label.toolTip()


def test_ml_service_ok_and_needed_by_an_http_collection(
    qtbot: QtBot, make_window: WindowFactory, ml_server: FakeMLServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ML_INFERENCE_SERVICE_URL", ml_server.url)
    window = make_window()
    qtbot.waitUntil(lambda: window.ml_label.health is not None, timeout=15_000)
    assert window.ml_label.state_text == "ok"
    assert not window.ml_label.needed  # builtin by default: the service is optional
    create_collection(qtbot, window, "clip", backend="http")
    assert window.ml_label.needed
    assert "clip" in window.active_label.text()


def test_health_is_checked_periodically(
    qtbot: QtBot, make_window: WindowFactory, ml_server: FakeMLServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ML_INFERENCE_SERVICE_URL", ml_server.url)
    window = make_window()
    assert window.health.timer.isActive()
    assert window.health.timer.interval() == 15_000
    qtbot.waitUntil(lambda: window.ml_label.state_text == "ok", timeout=15_000)
    ml_server.health_ready = False
    window.health.timer.timeout.emit()  # the next tick, without waiting 15 s
    qtbot.waitUntil(lambda: window.ml_label.state_text.startswith("not ready"), timeout=15_000)
