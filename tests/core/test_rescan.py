"""Rescans: vanished files leave the collection (or are only listed), changed files move on."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ingest_gui.core.jobs import Job, JobState
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.pipeline import run_job
from ingest_gui.core.services import Services


def _paths(services: Services, name: str) -> list[str]:
    return sorted(p for hit in services.store.scroll(name) for p in hit.payload["paths"])


def test_deleted_files_leave_the_collection(services: Services, photos: Path) -> None:
    folder = photos / "jpg" / "gps"
    CollectionManager(services).create("c")
    run_job(services, Job([folder], "c"))
    gone = folder / "DSCN0010.jpg"
    twin = folder / "twin.jpg"
    shutil.copyfile(folder / "DSCN0012.jpg", twin)
    run_job(services, Job([folder], "c"))
    assert str(twin) in _paths(services, "c")
    gone.unlink()
    twin.unlink()  # its content is still at DSCN0012.jpg: the point stays, one path less
    job = run_job(services, Job([folder], "c"))
    assert job.state is JobState.COMPLETED
    assert sorted(job.missing) == sorted([str(gone), str(twin)]) and job.removed == 2
    assert services.store.info("c").points == 8
    assert str(gone) not in _paths(services, "c") and str(twin) not in _paths(services, "c")
    assert str(folder / "DSCN0012.jpg") in _paths(services, "c")
    again = run_job(services, Job([folder], "c"))
    assert again.missing == [] and again.counters.unchanged == 8


def test_missing_files_only_listed_when_asked(services: Services, photos: Path) -> None:
    folder = photos / "tiff"
    CollectionManager(services).create("c")
    run_job(services, Job([folder], "c"))
    (folder / "BSG1.tiff").unlink()
    job = run_job(services, Job([folder], "c", prune_missing=False))
    assert job.missing == [str(folder / "BSG1.tiff")] and job.removed == 0
    assert services.store.info("c").points == 8
    # a scan of another folder never prunes this one
    other = run_job(services, Job([photos / "heic"], "c"))
    assert other.missing == [] and services.store.info("c").points == 9


def test_changed_file_moves_to_its_new_content(services: Services, photos: Path) -> None:
    folder = photos / "jpg" / "orientation"
    CollectionManager(services).create("c")
    run_job(services, Job([folder], "c"))
    target = folder / "landscape_1.jpg"
    shutil.copyfile(photos / "jpg" / "Canon_40D.jpg", target)
    os.utime(target, ns=(1, 1))
    job = run_job(services, Job([folder], "c"))
    assert job.counters.ingested == 1 and job.counters.unchanged == 15
    payloads = [h.payload for h in services.store.scroll("c")]
    holders = [p for p in payloads if str(target) in p["paths"]]
    assert len(holders) == 1 and holders[0]["camera_model"] == "Canon EOS 40D"
    assert services.store.info("c").points == 16  # the old content had no other path


def test_cancel_while_the_service_is_still_answering_the_probe(
    services: Services, photos: Path, ml_server: object
) -> None:
    import threading
    import time

    from ingest_gui.core.settings import load_settings

    server = ml_server
    server.delay_s = 5.0  # type: ignore[attr-defined]  # the probe batch takes 5 s
    svc = Services(load_settings(env={
        "INGEST_GUI_DATA_DIR": str(services.settings.data_dir.parent / "d2"),
        "ML_INFERENCE_SERVICE_URL": server.url,  # type: ignore[attr-defined]
    }))
    try:
        CollectionManager(svc).create("h", backend="http")
        job = Job([photos / "tiff"], "h")
        threading.Timer(0.3, job.cancel).start()
        t0 = time.monotonic()
        run_job(svc, job)
        assert job.state is JobState.CANCELLED
        assert time.monotonic() - t0 < 2.0
    finally:
        server.delay_s = 0.0  # type: ignore[attr-defined]
        svc.close()
