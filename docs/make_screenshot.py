"""Regenerate docs/screenshot.png: the window during a job, a finished job with failures.

    python docs/make_screenshot.py [--out docs/screenshot.png]

Runs offscreen (no display needed) on a temporary data folder with the sample photos, a
few broken files and generated images; the ML service is a local stand-in.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ helpers, when run as a script


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    p.add_argument("--images", type=int, default=3000, help="size of the running job")
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="ingest-shot-"))
    try:
        return _shoot(tmp, args.out.resolve(), args.images)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _shoot(tmp: Path, out: Path, images: int) -> int:
    from bench.bench_ui_stall import PHOTOS, make_images
    from bench.mlstub import StubML

    pictures = tmp / "Pictures"
    summer = pictures / "Summer 2023"
    shutil.copytree(PHOTOS, summer, copy_function=shutil.copyfile, ignore=shutil.ignore_patterns("*.md"))
    for folder in [summer, *(d for d in summer.rglob("*") if d.is_dir())]:
        folder.chmod(0o755)
    (summer / "IMG_0042.jpg").write_text("not really a JPEG")
    (summer / "scan-007.jpg").write_bytes((PHOTOS / "jpg" / "Canon_40D.jpg").read_bytes()[:600])
    archive = pictures / "Archive 2019"
    make_images(archive, images)

    with StubML() as ml:
        os.environ.update(INGEST_GUI_DATA_DIR=str(tmp / "data"), ML_INFERENCE_SERVICE_URL=ml.url)
        return _window_shot(summer, archive, out)


def _window_shot(summer: Path, archive: Path, out: Path) -> int:
    from bench.bench_ui_stall import start_app
    from ingest_gui.core.jobs import Job
    from ingest_gui.core.manager import CollectionManager
    from ingest_gui.core.pipeline import run_job
    from ingest_gui.ui.main_window import MainWindow

    app, loop, services = start_app()
    manager = CollectionManager(services)
    manager.create("clip-archive", backend="http")
    manager.create("family", backend="builtin")
    manager.create("holidays-2024", vector_size=256, distance="Euclid", backend="builtin")
    run_job(services, Job([summer / "jpg" / "orientation", summer / "tiff"], "holidays-2024"))
    manager.select("family")

    window = MainWindow(services)
    window.resize(1100, 700)
    window.splitter.setSizes([450, 650])
    window.show()

    async def scenario() -> None:
        while not window.collections.loaded:
            await asyncio.sleep(0.05)
        first = window.add_paths([summer])
        assert first is not None
        while not first.state.finished:
            await asyncio.sleep(0.05)
        await window.collections.select("holidays-2024")
        running = window.add_paths([archive])
        assert running is not None
        while running.counters.total == 0 or running.counters.fraction < 0.42:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # one more coalesced update and the rate meter settles
        while window.ml_label.health is None or window.qdrant_label.health is None:
            await asyncio.sleep(0.05)
        for row in window.jobs.rows.values():
            row.refresh()
        window.statusBar().clearMessage()
        app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        print(f"wrote {out} ({window.width()}x{window.height()})")

    with loop:
        loop.run_until_complete(scenario())
        window.force_quit = True
        window.close()
        loop.run_until_complete(window.tasks.drain())
    services.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
