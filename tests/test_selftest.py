"""`ingest-gui --self-test` and `--version` from the source install, as a person runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest_gui import __version__, cli
from ingest_gui.selftest import CHECKS

EXPECTED_CHECKS = {name for name, _fn in CHECKS}


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m ingest_gui ARGS` in another folder, with a clean HOME."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
            "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "ingest_gui", *args], cwd=cwd, env=base | (env or {}),
        capture_output=True, text=True, timeout=120,
    )


def test_self_test_reports_every_check_ok(tmp_path: Path) -> None:
    # A setting that would send the store elsewhere must not leak into the self-test.
    proc = run_cli("--self-test", cwd=tmp_path, env={"QDRANT_URL": "http://127.0.0.1:9"})
    report = json.loads(proc.stdout)  # stdout is the JSON report and nothing else
    failed = [c for c in report["checks"] if c["status"] != "ok"]
    assert proc.returncode == 0 and report["ok"], failed or proc.stderr
    assert {c["name"] for c in report["checks"]} == EXPECTED_CHECKS
    assert report["version"] == __version__ and report["frozen"] is False
    assert {"python", "qdrant-client", "Pillow", "Qt"} <= set(report["versions"])
    window = next(c for c in report["checks"] if c["name"] == "window")
    assert "MainWindow shown" in window["reason"]
    assert not list(tmp_path.glob(".local/share/ingest_gui")), "wrote outside its temp folder"


def test_a_failed_check_fails_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest_gui import selftest

    def broken(_ctx: selftest.Context) -> str:
        raise ImportError("libfoo.so.1: cannot open shared object file")

    monkeypatch.setattr(selftest, "CHECKS", [("store", broken)])
    report = selftest.run()
    assert report["ok"] is False
    assert report["checks"] == [
        {"name": "store", "status": "failed",
         "reason": "ImportError: libfoo.so.1: cannot open shared object file",
         "seconds": report["checks"][0]["seconds"]}
    ]


def test_version_answers_without_importing_qt(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom ingest_gui.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qdrant_client', 'numpy')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.splitlines() == [f"ingest-gui {__version__}", "[]"]


def test_headless_commands_never_load_qt(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom ingest_gui.cli import main\n"
        "assert main(['collections', 'list', '--json']) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qasync')))"
    )
    env = os.environ | {"INGEST_GUI_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"


def test_folder_arguments_open_the_window_with_them(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[list[str]] = []
    monkeypatch.setattr(cli, "_window", lambda paths: opened.append(paths) or 0)
    assert cli.main(["/photos/2024", "more"]) == 0
    assert cli.main([]) == 0
    assert opened == [["/photos/2024", "more"], []]
