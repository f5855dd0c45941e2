"""`ingest-gui --self-test`: check every part the app needs, in a temporary data folder.

Prints one JSON report (versions; each check ok or failed with a reason and its time) and
returns non-zero when any check failed. It runs the same from a source install and from
the bundle, where it proves that nothing the bundle needs was left out. Nothing outside
the temporary folder is read or written: the user's settings and environment are ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ingest_gui import __version__
from ingest_gui.appinfo import is_frozen, samples_dir
from ingest_gui.selftest_ml import ml_server

log = logging.getLogger(__name__)

SAMPLE_JPEG = "nikon_gps.jpg"
SAMPLE_HEIC = "sample.heic"
COLLECTION = "selftest"
WINDOW_TIMEOUT_S = 3.0
CHILD_TIMEOUT_S = 20.0


class CheckFailed(Exception):
    """A check found something wrong; the message is the reason."""


@dataclass
class Context:
    """What the checks share: the temporary folder and, once started, the Qt application."""

    root: Path
    samples: Path
    app: Any = None
    qt_reason: str = "Qt was not started"
    notes: dict[str, str] = field(default_factory=dict)

    def settings(self, name: str = "data") -> Any:
        """Default settings on a data folder under root, no environment variables."""
        from ingest_gui.core.settings import load_settings

        return load_settings(env={}, data_dir=self.root / name)


# the checks ------------------------------------------------------------------------------
def check_store(ctx: Context) -> str:
    """The embedded store: create, upsert, search, index (a child process), close, reopen."""
    from ingest_gui.core.store import PointData

    settings = ctx.settings("store")
    store = _open_store(settings)
    try:
        store.create("probe", 4, "Cosine", "builtin", "probe")
        points = [
            PointData(f"00000000-0000-0000-0000-00000000000{i}", v, {"n": i})
            for i, v in enumerate([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]], start=1)
        ]
        store.merge_upsert("probe", points)
        hits = store.search("probe", [0, 0.9, 0.1, 0], limit=1)
        _expect(bool(hits) and hits[0].payload.get("n") == 2, f"search found {hits!r}")
    finally:
        store.close()
    reopened = _open_store(settings)
    try:
        count = reopened.info("probe").points
    finally:
        reopened.close()
    _expect(count == 3, f"reopened store holds {count} points, not 3")
    kind = type(store).__name__
    return f"{kind}: created, upserted 3 points, searched, closed and reopened"


def _open_store(settings: Any) -> Any:
    """The embedded store exactly as the app opens it."""
    from ingest_gui.core import services

    open_store = getattr(services, "open_store", None)
    if open_store is not None:
        return open_store(settings)
    from ingest_gui.core.store import VectorStore

    return VectorStore.from_settings(settings)


def check_child_process(ctx: Context) -> str:
    """A spawned child process runs its task (the store builds indexes in one)."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    answers = spawn.SimpleQueue()
    child = spawn.Process(target=_child_task, args=(answers,), name="selftest-child")
    child.start()
    child.join(CHILD_TIMEOUT_S)
    if child.is_alive():
        child.terminate()
        raise CheckFailed(f"the child process did not finish within {CHILD_TIMEOUT_S:.0f} s")
    _expect(child.exitcode == 0, f"the child process exited with code {child.exitcode}")
    _expect(not answers.empty(), "the child process sent no answer")
    return f"spawned child answered: {answers.get()}"


def _child_task(answers: Any) -> None:
    """In the child: prove it ran our code (not the command line again)."""
    answers.put(f"pid {os.getpid()}, frozen={is_frozen()}")


def check_keyring(ctx: Context) -> str:
    """The keyring backends load (API keys are kept there when a desktop keyring exists)."""
    try:
        from ingest_gui.core import secrets
    except ImportError:
        return "no keyring support in this version"
    import keyring.backends  # noqa: F401 - the backends the bundle must carry

    return f"keyring backend: {secrets.keyring_name()}"


def check_cache(ctx: Context) -> str:
    """The disk cache: put, close, reopen, get."""
    from ingest_gui.core.cache import EmbeddingCache

    folder = ctx.root / "cache"
    cache = EmbeddingCache(folder)
    cache.put("probe-model", "ab" * 32, [0.25, -1.5, 3.0], "a caption", "probe")
    cache.close()
    cache = EmbeddingCache(folder)
    try:
        got = cache.get("probe-model", "ab" * 32)
    finally:
        cache.close()
    _expect(got is not None, "entry missing after reopening")
    assert got is not None
    _expect(got.embedding == [0.25, -1.5, 3.0] and got.caption == "a caption", f"got {got!r}")
    return "stored, reopened and read back an entry"


def check_jpeg(ctx: Context) -> str:
    """Decode the bundled JPEG and read its EXIF (camera, GPS)."""
    from ingest_gui.core.imaging import load_prepared
    from ingest_gui.core.metadata import read_metadata

    path = _sample(ctx, SAMPLE_JPEG)
    image = load_prepared(path, 384)
    meta = read_metadata(path, os.stat(path))
    _expect(image.mode == "RGB" and image.size == (160, 120), f"decoded {image.mode} {image.size}")
    _expect(meta.camera_make == "NIKON", f"EXIF camera make {meta.camera_make!r}")
    _expect(meta.gps is not None, "EXIF GPS position missing")
    return f"{image.size[0]}x{image.size[1]} {meta.camera_make} {meta.camera_model}, GPS {meta.gps}"


def check_heic(ctx: Context) -> str:
    """Decode the bundled HEIC through the HEIF plugin."""
    from ingest_gui.core.imaging import load_prepared
    from ingest_gui.core.metadata import read_metadata

    path = _sample(ctx, SAMPLE_HEIC)
    image = load_prepared(path, 384)
    meta = read_metadata(path, os.stat(path))
    _expect(image.size == (160, 107), f"decoded {image.size}")
    _expect(meta.format in ("HEIF", "HEIC"), f"format {meta.format!r}")
    plugin = next((m for m in ("pi_heif", "pillow_heif") if m in sys.modules), "unknown")
    return f"{image.size[0]}x{image.size[1]} {meta.format} via {plugin}"


def check_ingest(ctx: Context) -> str:
    """Built-in ingest of the samples into an embedded collection, then an image search."""
    from ingest_gui.core.jobs import Job, JobState
    from ingest_gui.core.manager import CollectionManager
    from ingest_gui.core.pipeline import run_job
    from ingest_gui.core.search import search_image
    from ingest_gui.core.services import Services

    folder = ctx.root / "photos"
    folder.mkdir()
    for name in (SAMPLE_JPEG, SAMPLE_HEIC):
        shutil.copyfile(_sample(ctx, name), folder / name)
    services = Services(ctx.settings())
    try:
        CollectionManager(services).create(COLLECTION, backend="builtin")
        job = run_job(services, Job([folder], COLLECTION))
        c = job.counters
        _expect(job.state is JobState.COMPLETED, f"job {job.state.value}: {job.message}")
        _expect(c.ingested == 2 and c.failed == 0, f"counters {c}; errors {job.errors}")
        hits = search_image(services, COLLECTION, folder / SAMPLE_JPEG, 1)
        _expect(bool(hits) and hits[0].payload.get("filename") == SAMPLE_JPEG, f"search {hits}")
        model = services.store.info(COLLECTION).model
    finally:
        services.close()
    return f"2 files ingested by {model}; image search finds the JPEG"


def check_http(ctx: Context) -> str:
    """The HTTP inference client against a server on 127.0.0.1."""
    from ingest_gui.core.imaging import load_prepared
    from ingest_gui.core.inference.base import ImageInput
    from ingest_gui.core.inference.http import HttpInferenceClient

    image = load_prepared(_sample(ctx, SAMPLE_JPEG), 384)
    with ml_server() as url, HttpInferenceClient(
        url, timeout_s=10, connect_timeout_s=2, retries=0
    ) as client:
        health = client.health()
        _expect(health.ok, f"health: {health.detail}")
        [result] = client.embed_images([ImageInput("one", SAMPLE_JPEG, image)], caption=True)
        model = client.model_name
    _expect(result.error is None, f"batch error: {result.error}")
    _expect(result.embedding is not None and len(result.embedding) == 512, "no 512-d embedding")
    _expect(bool(result.caption), "no caption")
    return f"health ok; 1 image embedded by {model} at {url}"


def check_qt(ctx: Context) -> str:
    """Start a QApplication (offscreen when there is no display)."""
    expected = _choose_platform()
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["ingest-gui", "--self-test"])
    ctx.app = app
    ctx.notes.update(Qt=qVersion(), PySide6=pyside_version)
    got = QApplication.platformName()
    if expected and got != expected:
        ctx.qt_reason = f"Qt fell back to {got}"
        raise CheckFailed(f"the {expected} platform plugin did not start: {_plugin_problem(expected)}")
    return f"platform {got}, Qt {qVersion()}; {_check_icu()}"


def _check_icu() -> str:
    """What Qt asks ICU for still works with the bundle's trimmed ICU data."""
    import functools

    from PySide6.QtCore import QCollator, QLocale, QTimeZone

    collator = QCollator(QLocale("de_DE"))
    collator.setNumericMode(True)
    words = sorted(["b", "img10", "ä", "img9", "a"], key=functools.cmp_to_key(collator.compare))
    _expect(words == ["a", "ä", "b", "img9", "img10"], f"ICU collation sorted {words}")
    upper = QLocale("tr_TR").toUpper("i") + QLocale("de_DE").toUpper("ß")
    _expect(upper == "İSS", f"ICU case mapping gave {upper!r}")
    _expect(QTimeZone(b"Europe/Berlin").isValid(), "time zone Europe/Berlin unknown")
    return "ICU collation, case mapping and time zones work"


def check_single_instance(ctx: Context) -> str:
    """A second instance hands folders to the first over the local socket."""
    _require_qt(ctx)
    from PySide6.QtCore import QCoreApplication, QDeadlineTimer

    from ingest_gui.ui.single_instance import SingleInstance, server_name

    name = server_name(ctx.root / "data")
    first = SingleInstance(name)
    _expect(first.listen(), f"cannot listen on {name}")
    received: list[list[str]] = []
    first.pathsReceived.connect(received.append)
    outcome: list[bool] = []
    # The second instance blocks while it waits for the answer, so it gets its own thread.
    sender = threading.Thread(
        target=lambda: outcome.append(SingleInstance(name).try_hand_off([ctx.samples])),
        name="selftest-hand-off",
    )
    sender.start()
    deadline = QDeadlineTimer(3000)
    while (sender.is_alive() or not received) and not deadline.hasExpired():
        QCoreApplication.processEvents()
        time.sleep(0.005)
    sender.join(1)
    first.close()
    _expect(outcome == [True], "the second instance got no confirmation")
    _expect(received == [[str(ctx.samples.absolute())]], f"the first received {received}")
    return f"hand-off confirmed over {name}"


def check_window(ctx: Context) -> str:
    """Build, show and close the main window (or a plain QWidget without it)."""
    _require_qt(ctx)
    try:
        from ingest_gui.ui.main_window import MainWindow
    except ImportError as exc:
        from PySide6.QtWidgets import QWidget

        widget = QWidget()
        widget.show()
        ctx.app.processEvents()
        shown = widget.isVisible()
        widget.close()
        _expect(shown, "a plain QWidget did not show")
        return f"QWidget shown (ingest_gui.ui.main_window unavailable: {exc})"
    return _show_main_window(ctx, MainWindow)


def _show_main_window(ctx: Context, window_class: Any) -> str:
    import qasync

    from ingest_gui.core.services import Services

    loop = qasync.QEventLoop(ctx.app)
    asyncio.set_event_loop(loop)
    services = Services(ctx.settings())
    try:
        window = window_class(services)
        window.show()
        listed = loop.run_until_complete(_wait_listed(window))
        shown = window.isVisible()
        window.force_quit = True
        window.close()
        loop.run_until_complete(window.tasks.drain())
    finally:
        services.close()
        loop.close()
        asyncio.set_event_loop(None)
    _expect(shown, "MainWindow did not show")
    _expect(COLLECTION in listed, f"the window listed {listed}, not {COLLECTION!r}")
    return f"MainWindow shown on {ctx.app.platformName()}, listing {listed}"


async def _wait_listed(window: Any) -> list[str]:
    """Collections the window lists once it has loaded them (or after the time-out)."""
    deadline = time.monotonic() + WINDOW_TIMEOUT_S
    while time.monotonic() < deadline:
        names = [c.name for c in getattr(window.collections, "collections", [])]
        if names:
            return names
        await asyncio.sleep(0.02)
    return []


CHECKS: list[tuple[str, Callable[[Context], str]]] = [
    ("store", check_store),
    ("cache", check_cache),
    ("child_process", check_child_process),
    ("keyring", check_keyring),
    ("decode_jpeg", check_jpeg),
    ("decode_heic", check_heic),
    ("ingest", check_ingest),
    ("http_client", check_http),
    ("qt", check_qt),
    ("single_instance", check_single_instance),
    ("window", check_window),
]


# running ---------------------------------------------------------------------------------
def run() -> dict[str, Any]:
    """Run every check in a fresh temporary folder; the report as a dict."""
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="ingest-gui-selftest-"))
    ctx = Context(root=root, samples=samples_dir())
    from ingest_gui.core.logs import setup_logging

    log_file = setup_logging(root / "logs")
    try:
        results = [_run_check(name, fn, ctx) for name, fn in CHECKS]
    finally:
        _close_log(root)
        shutil.rmtree(root, ignore_errors=True)
    return {
        "ok": all(r["status"] == "ok" for r in results),
        "version": __version__,
        "frozen": is_frozen(),
        "executable": sys.executable,
        "versions": _versions() | ctx.notes,
        "data_dir": f"{root} (removed)",
        "log_file": str(log_file),
        "checks": results,
        "seconds": round(time.monotonic() - started, 3),
    }


def _close_log(root: Path) -> None:
    """Release the temporary log file (before its folder is removed)."""
    logger = logging.getLogger("ingest_gui")
    for handler in list(logger.handlers):
        if str(getattr(handler, "baseFilename", "")).startswith(str(root)):
            logger.removeHandler(handler)
            handler.close()


def _run_check(name: str, fn: Callable[[Context], str], ctx: Context) -> dict[str, Any]:
    started = time.monotonic()
    try:
        status, reason = "ok", fn(ctx)
    except CheckFailed as exc:
        status, reason = "failed", str(exc)
    except Exception as exc:  # a missing module or library is exactly what we look for
        log.exception("self-test check %s failed", name)
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
    return {
        "name": name,
        "status": status,
        "reason": reason,
        "seconds": round(time.monotonic() - started, 3),
    }


def main() -> int:
    """Print the JSON report; 0 when every check passed."""
    report = run()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    sys.stdout.flush()
    return 0 if report["ok"] else 1


# helpers ---------------------------------------------------------------------------------
def _expect(condition: bool, reason: str) -> None:
    if not condition:
        raise CheckFailed(reason)


def _sample(ctx: Context, name: str) -> Path:
    path = ctx.samples / name
    _expect(path.is_file(), f"bundled sample missing: {path}")
    return path


def _require_qt(ctx: Context) -> None:
    if ctx.app is None:
        raise CheckFailed(f"skipped: {ctx.qt_reason}")


def _choose_platform() -> str:
    """The platform plugin we expect, with offscreen as the fallback instead of an abort."""
    wanted = os.environ.get("QT_QPA_PLATFORM", "").split(";")[0].strip()
    if not wanted:
        if os.environ.get("WAYLAND_DISPLAY"):
            wanted = "wayland"
        elif os.environ.get("DISPLAY") or sys.platform in ("win32", "darwin"):
            wanted = {"win32": "windows", "darwin": "cocoa"}.get(sys.platform, "xcb")
        else:
            wanted = "offscreen"
    # Qt aborts the process when the plugin fails; a fallback lets us report why instead.
    os.environ["QT_QPA_PLATFORM"] = wanted if wanted == "offscreen" else f"{wanted};offscreen"
    return wanted


def _plugin_problem(name: str) -> str:
    """Why a platform plugin does not load: usually a missing system library."""
    import _ctypes

    from PySide6.QtCore import QLibraryInfo

    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    candidates = sorted(folder.glob(f"*q{name}*"))
    if not candidates:
        return f"no {name} plugin in {folder}"
    try:
        # _ctypes.dlopen, not ctypes.CDLL: the bundle's CDLL replaces the loader's message
        # (which names the missing library) with a generic one.
        _ctypes.dlopen(str(candidates[0]), os.RTLD_NOW)
    except OSError as exc:
        return str(exc)
    return "the plugin loads; the display refused the connection (see the messages above)"


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("qdrant-client", "Pillow", "pi-heif", "numpy", "httpx", "diskcache", "piexif"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out
