"""Service faults: a real ML server on 127.0.0.1 misbehaving on cue, a real embedded store.

Every case ends with each file ingested or failed with a reason, nothing counted twice, and
a second run that retries exactly what failed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest_gui.core.errors import StoreError
from ingest_gui.core.inference.http import HttpInferenceClient
from ingest_gui.core.jobs import Job, JobState, ProgressEvent
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.pipeline import run_job
from ingest_gui.core.services import Services
from ingest_gui.core.settings import load_settings
from tests.core import imagegen
from tests.core.test_faults_input import assert_accounted, cli
from tests.mlserver import BATCH_PATH, FakeMLServer

BATCH = 4


def http_services(url: str, *, timeout_s: float = 10.0, in_flight: int = 1) -> Services:
    """Real services whose HTTP client backs off in milliseconds, so faults test fast."""
    settings = load_settings().with_values(
        ml_url=url, ml_batch_size=BATCH, ml_max_in_flight=in_flight, upsert_batch_size=8,
        backend="http", ml_timeout_s=timeout_s,
    )
    svc = Services(settings)
    client = HttpInferenceClient(url, timeout_s=timeout_s, retries=3, backoff_s=0.01)
    svc.add_backend("http", 512, client)
    return svc


@pytest.fixture
def svc(data_dir: Path, ml_server: FakeMLServer) -> Iterator[Services]:
    s = http_services(ml_server.url)
    yield s
    s.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    imagegen.many_jpegs(tmp_path / "photos", 16)
    return tmp_path / "photos"


def run(svc: Services, folder: Path, on_event: Any = None, name: str = "ml") -> Job:
    if not svc.store.exists(name):
        CollectionManager(svc).create(name, backend="http")
    return run_job(svc, Job([folder], name), on_event)


def after_scan(action: Any) -> Any:
    """A progress listener that acts once the job is connected and has scanned."""

    def on_event(event: ProgressEvent) -> None:
        if event.kind == "scanned":
            action()

    return on_event


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# --- the service is not there, or not ready ------------------------------------------------


def test_service_down_at_start_fails_before_anything_runs(data_dir: Path, folder: Path) -> None:
    svc = http_services(f"http://127.0.0.1:{closed_port()}")
    try:
        CollectionManager(svc).create("ml", backend="http")
        events: list[ProgressEvent] = []
        started = time.monotonic()
        job = run_job(svc, Job([folder], "ml"), events.append)
        assert time.monotonic() - started < 3
        assert job.state is JobState.FAILED
        assert "is unreachable: connection refused" in (job.message or "")
        assert [e.kind for e in events] == ["started", "finished"]  # no pretend progress
        assert job.counters.total == 0 and job.errors == []
        info = svc.store.info("ml")
        assert (info.points, info.model) == (0, None)  # no model recorded from nothing
    finally:
        svc.close()


def test_503_while_warming_up_then_runs(svc: Services, ml_server: FakeMLServer, folder: Path) -> None:
    ml_server.health_ready = False

    def warm_up() -> None:  # ready once the job has been told "not yet" twice
        while sum(c.status == 503 for c in ml_server.calls_to("/health")) < 2:
            time.sleep(0.005)
        ml_server.health_ready = True

    warming = threading.Thread(target=warm_up)
    warming.start()
    job = run(svc, folder)
    warming.join()
    assert_accounted(job)
    assert job.counters.ingested == 16
    assert any(c.status == 503 for c in ml_server.calls_to("/health"))


# --- one batch goes wrong ----------------------------------------------------------------------


def test_500_for_one_attempt_is_retried(svc: Services, ml_server: FakeMLServer, folder: Path) -> None:
    job = run(svc, folder, after_scan(lambda: setattr(ml_server, "fail_next_500", 1)))
    assert_accounted(job)
    assert (job.counters.ingested, job.counters.failed) == (16, 0)
    assert [c.status for c in ml_server.calls_to(BATCH_PATH)].count(500) == 1


def test_500_for_one_batch_fails_that_batch_only(
    svc: Services, ml_server: FakeMLServer, folder: Path
) -> None:
    job = run(svc, folder, after_scan(lambda: setattr(ml_server, "fail_next_500", 3)))
    assert_accounted(job)
    assert (job.counters.ingested, job.counters.failed) == (16 - BATCH, BATCH)
    assert {e.stage for e in job.errors} == {"inference"}
    assert all("HTTP 500: Internal Server Error (injected)" in e.reason for e in job.errors)
    assert svc.store.info("ml").points == 16 - BATCH
    again = run(svc, folder)
    assert (again.counters.ingested, again.counters.unchanged) == (BATCH, 16 - BATCH)
    assert svc.store.info("ml").points == 16


def test_slower_than_the_time_out(data_dir: Path, ml_server: FakeMLServer, folder: Path) -> None:
    svc = http_services(ml_server.url, timeout_s=0.3, in_flight=2)
    try:
        job = run(svc, folder, after_scan(lambda: setattr(ml_server, "delay_s", 1.0)))
        assert_accounted(job)
        assert job.counters.failed == 16
        assert all("did not answer within 0.3 s" in e.reason for e in job.errors)
        assert job.message is None  # slow, not down: /health still answers
        ml_server.delay_s = 0.0
        again = run(svc, folder)
        assert (again.counters.ingested, again.counters.failed) == (16, 0)
    finally:
        svc.close()


def test_malformed_json_fails_one_batch(svc: Services, ml_server: FakeMLServer, folder: Path) -> None:
    job = run(svc, folder, after_scan(lambda: setattr(ml_server, "malformed_json_next", 1)))
    assert_accounted(job)
    assert job.counters.failed == BATCH
    assert all("sent malformed JSON" in e.reason for e in job.errors)
    assert run(svc, folder).counters.ingested == BATCH


def test_per_item_errors_fail_those_files(svc: Services, ml_server: FakeMLServer, folder: Path) -> None:
    ml_server.bad_ids = {"img_00003.jpg", "img_00010.jpg"}
    job = run(svc, folder)
    assert_accounted(job)
    assert sorted(Path(e.path).name for e in job.errors) == ["img_00003.jpg", "img_00010.jpg"]
    assert all(e.stage == "inference" and "injected" in e.reason for e in job.errors)
    ml_server.bad_ids = set()
    again = run(svc, folder)
    assert (again.counters.ingested, again.counters.unchanged) == (2, 14)


def test_wrong_vector_size_is_refused(svc: Services, ml_server: FakeMLServer, folder: Path) -> None:
    ml_server.vector_size = 256
    job = run(svc, folder)
    assert job.state is JobState.FAILED
    assert job.message == "ML service returns 256-dim vectors; the collection needs 512"
    assert svc.store.info("ml").points == 0


def test_vector_size_changing_mid_job_fails_those_files(
    svc: Services, ml_server: FakeMLServer, folder: Path
) -> None:
    job = run(svc, folder, after_scan(lambda: setattr(ml_server, "vector_size", 256)))
    assert_accounted(job)
    assert job.counters.failed == 16 and svc.store.info("ml").points == 0
    assert {e.reason for e in job.errors} == {
        "ML service: returned a 256-dim vector; the collection needs 512"
    }


# --- the service dies mid-job --------------------------------------------------------------


def test_service_down_mid_job_fails_the_rest_fast_and_the_next_run_retries(
    data_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    imagegen.many_jpegs(folder, 40)
    server = FakeMLServer().start()
    port = server.server_address[1]
    svc = http_services(server.url, in_flight=2)
    try:

        def on_event(event: ProgressEvent) -> None:
            if event.counters.ingested >= 8:
                server.stop()  # gone: connections refused from now on

        started = time.monotonic()
        job = run(svc, folder, on_event)
        assert time.monotonic() - started < 10  # no full retry cycle for every batch
        assert_accounted(job)
        done = job.counters.ingested
        assert 8 <= done < 40 and job.counters.failed == 40 - done
        assert "stopped answering" in (job.message or "")
        reasons = {e.reason for e in job.errors}
        assert all(("unreachable" in r or "dropped the connection" in r) for r in reasons), reasons
        assert svc.store.info("ml").points == done  # every file counted ingested was kept
        server = FakeMLServer(port=port).start()  # back on the same address
        again = run(svc, folder)
        assert_accounted(again)
        assert (again.counters.ingested, again.counters.unchanged) == (40 - done, done)
        assert svc.store.info("ml").points == 40
    finally:
        svc.close()
        server.stop()


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_with_a_batch_in_flight_stops_within_a_second(
    svc: Services, ml_server: FakeMLServer, folder: Path
) -> None:
    job = Job([folder], "ml")
    CollectionManager(svc).create("ml", backend="http")

    def on_event(event: ProgressEvent) -> None:
        if event.counters.ingested >= 8 and not ml_server.delay_s:
            ml_server.delay_s = 30.0  # the next batch hangs in the service

    runner = threading.Thread(target=run_job, args=(svc, job, on_event))
    runner.start()
    deadline = time.monotonic() + 20
    while not (ml_server.delay_s and _batch_in_flight(ml_server)):
        assert time.monotonic() < deadline, "the slow batch never went out"
        time.sleep(0.01)
    cancelled = time.monotonic()
    job.cancel()
    runner.join(5)
    assert not runner.is_alive()
    assert time.monotonic() - cancelled < 1.0
    assert job.state is JobState.CANCELLED
    assert job.counters.ingested >= 8 and svc.store.info("ml").points == job.counters.ingested
    ml_server.stop()  # lets the abandoned request end now


def _batch_in_flight(server: FakeMLServer) -> bool:
    """A batch request has arrived and is not answered yet."""
    return any(c.status == 0 for c in server.calls_to(BATCH_PATH))


# --- the store ---------------------------------------------------------------------------------

_HOLD_STORE = """
import sys
from ingest_gui.core.services import Services
from ingest_gui.core.settings import load_settings
svc = Services(load_settings())
print("holding", flush=True)
sys.stdin.read()
svc.close()
"""


def test_embedded_store_locked_by_another_process(data_dir: Path, folder: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_STORE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreError) as caught:
            Services(load_settings())
        message = str(caught.value)
        assert message.startswith(f"the embedded Qdrant store at {data_dir}")
        assert "is in use by another ingest_gui instance" in message
        assert f"(process {holder.pid}," in message
        proc = cli("ingest", str(folder), "-c", "x", "--create")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert proc.stderr.count("\n") == 1 and f"process {holder.pid}" in proc.stderr
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    Services(load_settings()).close()  # free again once the other process is gone


def test_collection_deleted_while_the_job_writes(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    imagegen.many_jpegs(folder, 100)
    manager = CollectionManager(services)
    manager.create("doomed")

    def on_event(event: ProgressEvent) -> None:
        if event.counters.ingested >= 32 and services.store.exists("doomed"):
            manager.delete("doomed")  # between two writes of the job

    job = run_job(services, Job([folder], "doomed"), on_event)
    assert job.state is JobState.FAILED
    assert job.message == "collection 'doomed' does not exist (it was deleted while the job was writing)"
    assert not services.store.exists("doomed")
    for path in folder.iterdir():  # no half state: the index holds nothing for it
        assert services.cache.get_file("doomed", str(path)) is None
    manager.create("doomed")  # a new collection of that name starts clean
    fresh = run_job(services, Job([folder], "doomed"))
    assert fresh.state is JobState.COMPLETED
    assert fresh.counters.unchanged == 0 and fresh.counters.ingested + fresh.counters.cached == 100
    assert services.store.info("doomed").points == 100


# --- concurrency ------------------------------------------------------------------------------


def test_two_jobs_into_one_collection_at_once(services: Services, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    imagegen.many_jpegs(a, 40)
    imagegen.many_jpegs(b, 40, start=30)  # 10 images share their bytes with a's
    CollectionManager(services).create("one")
    jobs = [Job([a], "one"), Job([b], "one"), Job([a, b], "one")]
    _run_together(services, jobs)
    for job in jobs:
        assert_accounted(job)
        assert job.counters.failed == 0
    assert services.store.info("one").points == 70
    shared = [h for h in services.store.scroll("one") if len(h.payload["paths"]) > 1]
    assert len(shared) == 10
    for hit in shared:  # neither job's path was lost in the concurrent read-merge-write
        assert sorted(Path(p).parent.name for p in hit.payload["paths"]) == ["a", "b"]


def test_one_folder_into_two_collections_at_once(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    imagegen.many_jpegs(folder, 60)
    manager = CollectionManager(services)
    manager.create("left")
    manager.create("right", vector_size=256)  # another model size: no cache sharing
    jobs = [Job([folder], "left"), Job([folder], "right"), Job([folder], "left")]
    _run_together(services, jobs)
    for job in jobs:
        assert_accounted(job)
        assert job.counters.failed == 0
    assert services.store.info("left").points == 60
    assert services.store.info("right").points == 60
    again = run_job(services, Job([folder], "right"))
    assert again.counters.unchanged == 60


def _run_together(services: Services, jobs: list[Job]) -> None:
    threads = [threading.Thread(target=run_job, args=(services, j)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
