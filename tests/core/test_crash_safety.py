"""Crash safety: kill -9 or Ctrl-C the real CLI mid-job, then run again and check everything."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from ingest_gui.core.cache import EmbeddingCache
from ingest_gui.core.hashing import sha256_file
from ingest_gui.core.imaging import encode_jpeg, load_prepared
from ingest_gui.core.points import point_id
from ingest_gui.core.services import Services
from ingest_gui.core.settings import load_settings
from tests.core import imagegen
from tests.core.test_faults_input import cli
from tests.mlserver import MODEL_CLIP, FakeMLServer, describe_image

MODEL = f"http:{MODEL_CLIP}"
# What a crash may leave half-done: temp files of atomic writes, SQLite hot journals, the
# embedded store's transient build/trash folders. None may survive a clean run after it.
LEFTOVER_MARKS = (".tmp", "-journal", ".build-", ".trash-", "shard.old", ".part")


def start_ingest(folder: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ML_INFERENCE_SERVICE_URL": url, "ML_INFERENCE_BATCH_SIZE": "8"}
    return subprocess.Popen(
        [sys.executable, "-m", "ingest_gui", "ingest", str(folder), "-c", "crash",
         "--backend", "http", "--json", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert proc.poll() is None, f"the job ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def library(root: Path) -> list[Path]:
    """300 files: 290 unique images and 10 byte-for-byte copies under other names."""
    files = imagegen.many_jpegs(root, 290)
    for i in range(10):
        copy = root / f"copy_{i:02d}.jpg"
        shutil.copyfile(files[i * 7], copy)
        files.append(copy)
    return files


def leftovers(data_dir: Path) -> list[str]:
    return [
        str(p.relative_to(data_dir)) for p in data_dir.rglob("*")
        if any(mark in p.name for mark in LEFTOVER_MARKS)
    ]


def test_kill_9_mid_job_then_rerun_leaves_one_point_per_image(
    data_dir: Path, tmp_path: Path, ml_server: FakeMLServer
) -> None:
    files = library(tmp_path / "photos")
    ml_server.delay_s = 0.04  # every batch takes a moment, so the kill lands mid-job
    assert cli("collections", "create", "crash", "--backend", "http").returncode == 0
    settings = load_settings()
    proc = start_ingest(tmp_path / "photos", ml_server.url)
    cache = EmbeddingCache(settings.cache_dir)  # diskcache and SQLite: safe beside the CLI
    try:
        indexed = lambda: sum(cache.get_file("crash", str(f)) is not None for f in files)  # noqa: E731
        wait_for(lambda: indexed() >= 32, proc, "the first upsert")  # some progress exists
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        cache.close()

    svc = Services(load_settings())  # the store and the cache open after the crash
    try:
        kept = [f for f in files if svc.cache.get_file("crash", str(f)) is not None]
        assert 32 <= len(kept) < len(files)
        ids = [point_id(sha256_file(f)) for f in kept]
        assert set(svc.store.payloads("crash", ids)) == set(ids)  # the index never runs ahead
    finally:
        svc.close()

    ml_server.delay_s = 0.0
    sent_before = sum(r.count for r in ml_server.requests)
    rerun = start_ingest(tmp_path / "photos", ml_server.url)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    summary = json.loads(out)
    assert summary["status"] == "completed" and summary["failed"] == 0
    assert summary["unchanged"] == len(kept)
    assert summary["unchanged"] + summary["cached"] + summary["ingested"] == 300
    # only what the crash lost went to the service again (the probe image is one more)
    assert sum(r.count for r in ml_server.requests) - sent_before <= summary["ingested"] + 1

    svc = Services(load_settings())
    try:
        assert svc.store.info("crash").points == 290  # one point per unique image
        by_sha: dict[str, list[str]] = {}
        for f in files:
            by_sha.setdefault(sha256_file(f), []).append(str(f))
        payloads = svc.store.payloads("crash", [point_id(s) for s in by_sha])
        for sha, paths in by_sha.items():
            assert sorted(payloads[point_id(sha)]["paths"]) == sorted(paths)
            cached = svc.cache.get(MODEL, sha)
            assert cached is not None  # and it is the right vector for those bytes:
            expected = _service_vector(Path(paths[0]))
            assert max(abs(a - b) for a, b in zip(cached.embedding, expected, strict=True)) < 1e-6
    finally:
        svc.close()
    assert leftovers(data_dir) == []


def _service_vector(path: Path) -> list[float]:
    """What the test service computes for a file, as the client sends it."""
    sent = Image.open(io.BytesIO(encode_jpeg(load_prepared(path))))
    return describe_image(sent, 512)


def test_ctrl_c_with_a_batch_in_flight_stops_within_a_second(
    data_dir: Path, tmp_path: Path, ml_server: FakeMLServer
) -> None:
    imagegen.many_jpegs(tmp_path / "photos", 60)
    assert cli("collections", "create", "crash", "--backend", "http").returncode == 0
    proc = start_ingest(tmp_path / "photos", ml_server.url)
    wait_for(lambda: len(ml_server.batch_calls(200)) >= 4, proc, "three batches")
    ml_server.delay_s = 60.0  # the next batch hangs in the service
    sent = len(ml_server.calls)
    wait_for(lambda: len(ml_server.calls) > sent, proc, "a slow batch")
    interrupted = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - interrupted < 1.5  # the process is gone, not only the job
    assert proc.returncode == 130, err
    summary = json.loads(out)
    assert summary["status"] == "cancelled" and summary["ingested"] >= 16
    assert "Traceback" not in err
    ml_server.delay_s = 0.0
    again = start_ingest(tmp_path / "photos", ml_server.url)
    out, err = again.communicate(timeout=120)
    summary2 = json.loads(out)
    assert summary2["unchanged"] == summary["ingested"]  # what was done was kept
    assert summary2["unchanged"] + summary2["ingested"] == 60 and summary2["failed"] == 0
    assert leftovers(data_dir) == []
