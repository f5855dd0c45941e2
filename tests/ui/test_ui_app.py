"""`ingest-gui` with no command opens the window on the embedded defaults and quits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pytestqt.qtbot import QtBot


def _launch(data_dir: Path) -> tuple[dict[str, str], subprocess.Popen[str], Path]:
    """Start the window as a user would (`python -m ingest_gui`), offscreen."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INGEST_GUI_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest_gui"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return env, proc, data_dir / "logs" / "ingest_gui.log"


def _wait_for_window(qtbot: QtBot, log_file: Path) -> None:
    """Poll the log through Qt's event loop (no sleeps) until the window is open."""
    qtbot.waitUntil(
        lambda: log_file.is_file() and "window open" in log_file.read_text(), timeout=30_000
    )


def test_the_app_starts_on_defaults_and_shuts_down_on_sigterm(
    qtbot: QtBot, data_dir: Path
) -> None:
    _env, proc, log_file = _launch(data_dir)
    try:
        _wait_for_window(qtbot, log_file)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    text = log_file.read_text()
    assert "window shut down" in text and "shut down cleanly" in text
    assert "Traceback" not in out + text


def test_a_second_launch_hands_its_folders_to_the_open_window(
    qtbot: QtBot, data_dir: Path, photos: Path
) -> None:
    env, first, log_file = _launch(data_dir)
    try:
        _wait_for_window(qtbot, log_file)
        second = subprocess.run(
            [sys.executable, "-m", "ingest_gui", str(photos / "tiff")], env=env,
            capture_output=True, text=True, timeout=60,
        )
        assert second.returncode == 0, second.stdout + second.stderr
        qtbot.waitUntil(lambda: "handed over 1 path" in log_file.read_text(), timeout=10_000)
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, out
