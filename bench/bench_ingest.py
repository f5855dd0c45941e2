"""Ingestion throughput, payload, in-flight scaling, warm/unchanged rescans and memory.

Prints each figure next to its target and, for cold ingest, next to the seed service's way
(full-resolution PNG in base64, one batch at a time) measured in the same run.

    python -m bench.bench_ingest --quick        # a couple of minutes
    python -m bench.bench_ingest                # the issue's sizes
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

from bench.images import make_folder
from bench.mlstub import StubML
from ingest_gui.core.jobs import Job, JobState
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.pipeline import run_job
from ingest_gui.core.services import Services
from ingest_gui.core.settings import load_settings

TWELVE_MP = (4000, 3000)


def services_for(data_dir: Path, ml_url: str, **env: str) -> Services:
    values = {"INGEST_GUI_DATA_DIR": str(data_dir), "ML_INFERENCE_SERVICE_URL": ml_url, **env}
    return Services(load_settings(env=values))


def ingest(svc: Services, folder: Path, name: str, backend: str = "http") -> tuple[Job, float]:
    if not svc.store.exists(name):
        CollectionManager(svc).create(name, backend=backend)
    t0 = time.perf_counter()
    job = run_job(svc, Job([folder], name))
    elapsed = time.perf_counter() - t0
    assert job.state is JobState.COMPLETED, job.message
    assert job.counters.failed == 0, job.errors[:3]
    return job, elapsed


def baseline_png(paths: list[Path], url: str, batch: int = 8) -> float:
    """The seed's way: full resolution, PNG, base64, one batch in flight. Returns images/s."""
    t0 = time.perf_counter()
    with httpx.Client(timeout=600) as client:
        for i in range(0, len(paths), batch):
            items = []
            for p in paths[i : i + batch]:
                hashlib.sha256(p.read_bytes()).hexdigest()
                with Image.open(p) as im:
                    buf = io.BytesIO()
                    im.convert("RGB").save(buf, "PNG")
                items.append({"unique_id": p.name, "filename": p.name,
                              "image_base64": base64.b64encode(buf.getvalue()).decode()})
            client.post(f"{url}/api/v1/batch_embed_and_caption?caption=true",
                        json={"images": items}).raise_for_status()
    return len(paths) / (time.perf_counter() - t0)


def read_and_hash(paths: list[Path]) -> float:
    """Only reading and SHA-256-hashing the files: the floor for a warm re-ingest."""
    t0 = time.perf_counter()
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return len(paths) / (time.perf_counter() - t0)


def rss_mb(pid: int | str = "self", kind: str = "VmRSS") -> float:
    """Resident MB of a process: all (VmRSS), or only anonymous memory (RssAnon)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(kind + ":"):
                return int(line.split()[1]) / 1e3
    return 0.0


def row(label: str, value: str, target: str = "", ok: bool | None = None) -> None:
    mark = "" if ok is None else ("  OK" if ok else "  MISSED")
    print(f"{label:<46} {value:>22}   {target}{mark}", flush=True)


def bench_cold(tmp: Path, n: int, baseline_n: int) -> None:
    folder = tmp / "cold"
    paths = make_folder(folder, n, TWELVE_MP)
    with StubML() as ml:
        svc = services_for(tmp / "d-cold", ml.url)
        try:
            job, elapsed = ingest(svc, folder, "cold")
        finally:
            svc.close()
        ours = job.counters.ingested / elapsed
        sizes = sorted(ml.image_bytes)
        base = baseline_png(paths[:baseline_n], ml.url)
    print(f"\n1-2. cold ingest of {n} 12 MP JPEGs, ML service on 127.0.0.1 answering at once")
    row("ours: images/s", f"{ours:.1f}", "target >= 30", ours >= 30)
    row(f"seed's way (PNG base64, {baseline_n} images): images/s", f"{base:.2f}")
    row("speed-up", f"{ours / base:.0f}x", "target >= 25x", ours / base >= 25)
    row("payload per image: median / max KB",
        f"{statistics.median(sizes) / 1e3:.1f} / {sizes[-1] / 1e3:.1f}", "target <= 50 KB",
        sizes[-1] <= 50_000)


def bench_in_flight(tmp: Path, n: int, delay: float) -> None:
    folder = tmp / "cold"
    print(f"\n3. in flight: service taking {delay * 1000:.0f} ms per batch of 8, {n} images")
    for k in (1, 2, 4):
        with StubML(delay_s=delay) as ml:
            svc = services_for(tmp / f"d-fl{k}", ml.url, ML_INFERENCE_MAX_IN_FLIGHT=str(k))
            try:
                job, elapsed = ingest(svc, folder, "fl")
            finally:
                svc.close()
        row(f"{k} batch(es) in flight: images/s", f"{job.counters.ingested / elapsed:.1f}")


def bench_warm_and_unchanged(tmp: Path, n_files: int) -> None:
    folder = tmp / "cold"
    paths = sorted(folder.rglob("*.JPG"))
    with StubML() as ml:
        svc = services_for(tmp / "d-cold", ml.url)
        try:
            # a second collection of the same model: every image is a cache hit
            job, elapsed = ingest(svc, folder, "warm")
            assert job.counters.cached == len(paths)
            warm = len(paths) / elapsed
        finally:
            svc.close()
    floor = read_and_hash(paths)
    print(f"\n4. warm re-ingest of {len(paths)} cached 12 MP files")
    row("warm: images/s", f"{warm:.1f}")
    row("reading + SHA-256 only: images/s", f"{floor:.1f}")
    row("warm / read+hash", f"{warm / floor:.0%}", "target >= 60%", warm / floor >= 0.6)

    small = tmp / "many"
    make_folder(small, n_files, (640, 480), subdirs=50)
    svc = services_for(tmp / "d-many", "http://127.0.0.1:9")
    try:
        ingest(svc, small, "many", backend="builtin")
        job, elapsed = ingest(svc, small, "many", backend="builtin")
        assert job.counters.unchanged == n_files
    finally:
        svc.close()
    print(f"\n5. unchanged rescan of {n_files} files")
    rate = n_files / elapsed
    row("files/s", f"{rate:,.0f}", "target >= 5,000", rate >= 5000)


def bench_memory(tmp: Path, n: int) -> None:
    """Resident memory of the real CLI process (not this one) while it ingests n images."""
    folder = tmp / "mem"
    make_folder(folder, n, (1600, 1200), subdirs=100)
    with StubML() as ml:
        env = {**os.environ, "INGEST_GUI_DATA_DIR": str(tmp / "d-mem"),
               "ML_INFERENCE_SERVICE_URL": ml.url}
        cmd = [sys.executable, "-m", "ingest_gui", "ingest", str(folder), "-c", "mem",
               "--create", "--backend", "http", "--json"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        samples: list[float] = []
        anon: list[float] = []
        while proc.poll() is None:
            with contextlib.suppress(OSError):
                samples.append(rss_mb(proc.pid))
                anon.append(rss_mb(proc.pid, "RssAnon"))
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
        summary = json.loads(proc.stdout.read() if proc.stdout else "{}")
    assert summary.get("ingested") == n, summary
    s = samples or [0.0]
    tenth = max(1, len(s) // 10)
    first, last = statistics.mean(s[:tenth]), statistics.mean(s[-tenth:])
    print(f"\n6. memory of the CLI ingesting {n} images (2 MP) at {n / elapsed:.0f} images/s")
    row("resident MB: peak", f"{max(s):.0f}", "target <= 400 MB", max(s) <= 400)
    row("resident MB: first tenth / last tenth", f"{first:.0f} / {last:.0f}", "flat")
    for label, series in (("resident", s), ("anonymous (not file-backed)", anon or [0.0])):
        k = max(1, len(series) // 10)
        tenths = [statistics.mean(series[i * k : (i + 1) * k]) for i in range(len(series) // k)]
        print(f"   {label} MB by tenth of the run:", " ".join(f"{m:.0f}" for m in tenths[:10]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes: a couple of minutes")
    ap.add_argument("--images", type=int, help="12 MP images for cold/warm runs (300)")
    ap.add_argument("--baseline-images", type=int, default=16)
    ap.add_argument("--rescan-files", type=int, help="files for the unchanged rescan (10000)")
    ap.add_argument("--memory-images", type=int, help="images for the memory run (10000)")
    ap.add_argument("--delay", type=float, default=0.2, help="seconds per batch for item 3")
    args = ap.parse_args()
    n = args.images or (60 if args.quick else 300)
    rescan = args.rescan_files or (3000 if args.quick else 10000)
    mem = args.memory_images or (1000 if args.quick else 10000)
    print(f"ingest benchmark on {os.cpu_count()} cores")
    tmp = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        bench_cold(tmp, n, min(args.baseline_images, n))
        bench_in_flight(tmp, min(n, 96), args.delay)
        bench_warm_and_unchanged(tmp, rescan)
        bench_memory(tmp, mem)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
