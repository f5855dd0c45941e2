"""Longest main-thread stall while an N-image job runs with the window open (builtin backend).

A QTimer probe fires every 5 ms on the UI thread; any gap between its ticks beyond that is
time the UI could not respond. Target: the longest stall <= 50 ms.

    python -m bench.bench_ui_stall --images 1000      # quick
    python -m bench.bench_ui_stall                    # 5,000 images
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image, ImageEnhance

PROBE_MS = 5
TARGET_MS = 50.0
PHOTOS = Path(
    os.environ.get("INGEST_GUI_PHOTOS")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
)


def _bases(max_side: int) -> list[tuple[Image.Image, bytes]]:
    """The sample JPEGs, downscaled, each with its own EXIF block."""
    bases = []
    for path in sorted(PHOTOS.rglob("*.jpg")):
        try:
            with Image.open(path) as im:
                exif = im.info.get("exif", b"")
                img = im.convert("RGB")
        except OSError:
            continue
        img.thumbnail((max_side, max_side))
        bases.append((img, exif))
    if not bases:
        raise SystemExit(f"no sample photos under {PHOTOS} (set INGEST_GUI_PHOTOS)")
    return bases


def make_images(folder: Path, n: int, max_side: int = 480) -> None:
    """n small JPEGs with EXIF: the sample photos re-encoded with brightness variations."""
    bases = _bases(max_side)

    def one(i: int) -> None:
        img, exif = bases[i % len(bases)]
        factor = 0.75 + 0.5 * ((i // len(bases)) % 97) / 96  # a different picture each time
        varied = ImageEnhance.Brightness(img).enhance(factor)
        buf = io.BytesIO()
        varied.save(buf, "JPEG", quality=85, exif=exif, comment=f"stall bench {i}".encode())
        sub = folder / f"roll{i % 20:02d}"
        (sub / f"IMG_{i:05d}.jpg").write_bytes(buf.getvalue())

    for k in range(20):
        (folder / f"roll{k:02d}").mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        list(pool.map(one, range(n)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=5000, help="how many images (default 5000)")
    p.add_argument("--side", type=int, default=480, help="longest side of each image in px")
    p.add_argument("--keep", action="store_true", help="keep the temp folder")
    p.add_argument("--baseline-s", type=float, default=5.0,
                   help="first probe this long with no job running (0: skip)")
    p.add_argument("--switch-ms", type=float, help="GIL switch interval instead of the app's")
    args = p.parse_args(argv)
    from ingest_gui.ui.responsive import favour_ui_thread

    favour_ui_thread()  # as app.main does
    if args.switch_ms:
        sys.setswitchinterval(args.switch_ms / 1000)

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    root = Path(tempfile.mkdtemp(prefix="ingest-stall-"))
    os.environ["INGEST_GUI_DATA_DIR"] = str(root / "data")
    for var in ("QDRANT_URL", "QDRANT_HOST", "INGEST_GUI_BACKEND"):
        os.environ.pop(var, None)
    try:
        t0 = time.perf_counter()
        make_images(root / "photos", args.images, args.side)
        print(f"made {args.images} images in {time.perf_counter() - t0:.1f} s")
        return _run(root / "photos", args.images, args.baseline_s)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def start_app() -> tuple[Any, Any, Any]:
    """A styled QApplication, a qasync loop on it and the core services, as app.main makes."""
    import qasync
    from PySide6.QtWidgets import QApplication

    from ingest_gui.core.services import Services
    from ingest_gui.core.settings import load_settings
    from ingest_gui.ui.style import STYLE_SHEET

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setStyleSheet(STYLE_SHEET)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    return app, loop, Services(load_settings())


def _run(folder: Path, n: int, baseline_s: float) -> int:
    from PySide6.QtCore import Qt, QTimer

    from ingest_gui.core.jobs import Job
    from ingest_gui.core.manager import CollectionManager
    from ingest_gui.ui.main_window import MainWindow
    from ingest_gui.ui.responsive import freeze_startup_objects

    _app, loop, services = start_app()  # the app must stay referenced
    CollectionManager(services).create("bench", backend="builtin")
    CollectionManager(services).select("bench")
    window = MainWindow(services)
    window.resize(1100, 700)
    window.show()
    freeze_startup_objects()  # as app.main does

    gaps: list[float] = []
    at: list[float] = []  # when each gap ended, seconds after the job started
    busy: list[float] = []  # UI-thread CPU time within each gap: work, not waiting
    last = [0.0]
    last_cpu = [0.0]
    t_start = [0.0]
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(PROBE_MS)

    def tick() -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if last[0]:
            gaps.append((now - last[0]) * 1000)
            at.append(now - t_start[0])
            busy.append((cpu - last_cpu[0]) * 1000)
        last[0], last_cpu[0] = now, cpu

    probe.timeout.connect(tick)

    idle: list[float] = []

    async def scenario() -> tuple[Job, float]:
        while not window.collections.loaded:
            await asyncio.sleep(0.05)
        if baseline_s > 0:  # the same probe with no job: what the machine itself adds
            probe.start()
            await asyncio.sleep(baseline_s)
            probe.stop()
            idle.extend(gaps)
            for series in (gaps, at, busy):
                series.clear()
            last[0] = 0.0
        done = asyncio.Event()
        window.queue.finished.connect(lambda _job: done.set())
        probe.start()
        started = t_start[0] = time.perf_counter()
        job = window.add_paths([folder])
        assert job is not None
        await done.wait()
        elapsed = time.perf_counter() - started
        probe.stop()
        return job, elapsed

    with loop:
        job, elapsed = loop.run_until_complete(scenario())
        window.force_quit = True
        window.close()
        loop.run_until_complete(window.tasks.drain())
    services.close()

    c = job.counters
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at the end")
    if idle:
        quiet = sorted(idle)
        print(f"no job, {len(quiet)} ticks: gap p99 {_pct(quiet, 0.99):.1f} ms, "
              f"max {quiet[-1]:.1f} ms (the machine's own noise)")
    stalls = sorted(gaps)
    p99 = _pct(stalls, 0.99)
    worst = stalls[-1]
    print(f"job: {job.state.value}, {c.total} files ({c.ingested} ingested, {c.failed} failed) "
          f"in {elapsed:.1f} s = {c.done / elapsed:.0f} images/s")
    print(f"probe: every {PROBE_MS} ms, {len(gaps)} ticks; gap median "
          f"{statistics.median(stalls):.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms; "
          f"{sum(g > TARGET_MS for g in stalls)} gaps over {TARGET_MS:.0f} ms")
    top = sorted(zip(gaps, at, busy, strict=True), reverse=True)[:5]
    print("longest gaps: " + ", ".join(
        f"{g:.0f} ms at {t:.2f} s (UI thread busy {b:.0f} ms)" for g, t, b in top
    ))
    verdict = "ok" if worst <= TARGET_MS else "OVER TARGET"
    print(f"longest main-thread stall: {worst:.1f} ms (target <= {TARGET_MS:.0f} ms): {verdict}")
    if c.total != n:
        print(f"warning: expected {n} files, the job found {c.total}")
    return 0 if worst <= TARGET_MS else 1


def _pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


if __name__ == "__main__":
    raise SystemExit(main())
