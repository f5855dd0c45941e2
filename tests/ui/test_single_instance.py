"""One window per user and data folder: a second instance hands its folders over and exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtNetwork import QLocalSocket
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from ingest_gui.ui.single_instance import (
    FileOpenEvents,
    SingleInstance,
    claim,
    decode,
    encode,
    server_name,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A socket name of a private data folder, in a private runtime folder."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return server_name(tmp_path / "data")


def second_instance(code: str, name: str, cwd: Path) -> subprocess.Popen[str]:
    """Another process of ours, as `ingest-gui FOLDER…` would start it."""
    script = "from ingest_gui.ui.single_instance import *\n" + textwrap.dedent(code)
    env = os.environ | {"PYTHONPATH": str(ROOT), "NAME": name}
    return subprocess.Popen(
        [sys.executable, "-c", script], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def test_name_is_per_user_and_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    a, b = server_name(tmp_path / "a"), server_name(tmp_path / "b")
    assert a != b
    assert a == server_name(tmp_path / "a")
    assert f"-{os.getuid()}-" in a
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert Path(server_name(tmp_path / "a")).parent == runtime  # the user's own 0700 folder


def test_message_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    line = encode(["photos", Path("/abs/x.jpg")])
    assert line.endswith(b"\n")
    assert decode(line.rstrip(b"\n")) == [str(tmp_path / "photos"), "/abs/x.jpg"]
    for bad in (b"", b"not json", b'{"v": 2, "paths": []}', b'{"v": 1, "paths": [3]}', b"\xff"):
        assert decode(bad) is None


def test_second_instance_hands_folders_to_the_first(
    qtbot: QtBot, name: str, tmp_path: Path
) -> None:
    first = SingleInstance(name)
    assert first.listen()
    try:
        with qtbot.waitSignal(first.pathsReceived, timeout=10_000) as got:
            proc = second_instance(
                "import os, sys\n"
                "sys.exit(0 if SingleInstance(os.environ['NAME']).try_hand_off(['a', '/b c']) else 3)",
                name, tmp_path,
            )
        assert proc.wait(10) == 0, proc.stderr.read() if proc.stderr else ""
        assert got.args == [[str(tmp_path / "a"), "/b c"]]  # absolute: the window has another cwd
    finally:
        first.close()


def test_claim_from_a_second_process_hands_off_and_returns_none(
    qtbot: QtBot, name: str, tmp_path: Path
) -> None:
    first = claim(name, [])
    assert first is not None and first.listening
    try:
        with qtbot.waitSignal(first.pathsReceived, timeout=10_000) as got:
            proc = second_instance(
                "import os\nprint('served' if claim(os.environ['NAME'], ['x']) else 'handed off')",
                name, tmp_path,
            )
        out, err = proc.communicate(timeout=10)
        assert out.strip() == "handed off", err
        assert got.args == [[str(tmp_path / "x")]]
    finally:
        first.close()


def test_no_running_window_means_no_hand_off(name: str) -> None:
    started = time.monotonic()
    assert SingleInstance(name).try_hand_off(["x"]) is False
    assert time.monotonic() - started < 2


def test_socket_left_by_a_killed_window_is_taken_over(qtbot: QtBot, name: str, tmp_path: Path) -> None:
    crashed = second_instance(
        "import os, time\nfrom PySide6.QtCore import QCoreApplication\n"
        "app = QCoreApplication([])\ns = SingleInstance(os.environ['NAME'])\n"
        "print('listening' if s.listen() else 'no', flush=True)\ntime.sleep(60)",
        name, tmp_path,
    )
    assert crashed.stdout is not None
    assert crashed.stdout.readline().strip() == "listening"
    os.kill(crashed.pid, signal.SIGKILL)
    crashed.wait(10)
    assert Path(name).exists(), "a killed server leaves its socket file behind"
    instance = claim(name, ["x"])
    try:
        assert instance is not None and instance.listening
    finally:
        if instance is not None:
            instance.close()


def test_no_hand_off_to_a_socket_of_another_user(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = SingleInstance(name)
    assert first.listen()
    try:
        monkeypatch.setattr(os, "getuid", lambda: 4242)  # as if someone else created it
        assert SingleInstance(name).try_hand_off(["secret/path"]) is False
    finally:
        monkeypatch.undo()
        first.close()


def test_malformed_message_is_refused(qtbot: QtBot, name: str) -> None:
    first = SingleInstance(name)
    assert first.listen()
    received: list[list[str]] = []
    first.pathsReceived.connect(received.append)
    sock = QLocalSocket()
    try:
        sock.connectToServer(name)
        assert sock.waitForConnected(2000)
        sock.write(b"garbage\n")
        sock.flush()
        answer = bytearray()
        qtbot.waitUntil(lambda: bool(answer.extend(sock.readAll().data()) or b"\n" in answer))
        assert bytes(answer) == b"error\n"
        assert received == []
    finally:
        sock.abort()
        first.close()


def test_file_open_events_are_held_until_the_window_is_ready(qtbot: QtBot) -> None:
    app = QApplication.instance()
    assert app is not None
    events = FileOpenEvents()
    app.installEventFilter(events)
    got: list[list[str]] = []
    events.pathsReceived.connect(got.append)
    try:
        QApplication.sendEvent(app, QFileOpenEvent("/photos/a"))
        QApplication.sendEvent(app, QFileOpenEvent("/photos/b.heic"))
        assert got == []  # no window yet
        events.release()
        QApplication.sendEvent(app, QFileOpenEvent("/photos/c"))
        assert got == [["/photos/a", "/photos/b.heic"], ["/photos/c"]]
    finally:
        app.removeEventFilter(events)
