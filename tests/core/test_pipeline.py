"""End-to-end ingestion of the real sample photos into an embedded store (no Qt)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from ingest_gui.core.errors import ModelMismatchError
from ingest_gui.core.jobs import Job, JobState, ProgressEvent
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.pipeline import run_job
from ingest_gui.core.points import point_id
from ingest_gui.core.services import Services
from tests.conftest import photo_files


def _ingest(services: Services, folder: Path, name: str = "photos", **kw: object) -> Job:
    manager = CollectionManager(services)
    if not services.store.exists(name):
        manager.create(name, backend="builtin")
    return run_job(services, Job([folder], name, **kw))  # type: ignore[arg-type]


def _payload_of(services: Services, name: str, path: Path) -> dict:
    for hit in services.store.scroll(name):
        if str(path) in hit.payload["paths"]:
            return hit.payload
    raise AssertionError(f"{path} not in collection")


def test_ingest_sample_photos_accounts_for_every_image(services: Services, photos: Path) -> None:
    files = photo_files(photos)
    job = _ingest(services, photos)
    assert job.state is JobState.COMPLETED
    c = job.counters
    assert c.total == len(files) == c.ingested + c.failed
    assert c.failed == 0, job.errors
    assert services.store.info("photos").points == len(files)  # every sample has unique bytes
    assert c.fraction == 1.0


def test_known_camera_exif_gps_and_orientation(services: Services, photos: Path) -> None:
    _ingest(services, photos)
    canon = _payload_of(services, "photos", photos / "jpg" / "Canon_40D.jpg")
    assert canon["camera_make"] == "Canon"
    assert canon["camera_model"] == "Canon EOS 40D"
    assert canon["taken_at"].startswith("2008-05-30T15:56:01")
    assert "Canon EOS 40D" in canon["caption"]
    assert canon["model"] == "builtin-pixels-v1-512"
    gps = _payload_of(services, "photos", photos / "jpg" / "gps" / "DSCN0010.jpg")["gps"]
    assert gps["lat"] == pytest.approx(43.4674, abs=1e-3)
    assert gps["lon"] == pytest.approx(11.8851, abs=1e-3)
    # orientation 6 = rotated 90°: shown as the same 4:3 landscape as orientation 1
    o1 = _payload_of(services, "photos", photos / "jpg" / "orientation" / "landscape_1.jpg")
    o6 = _payload_of(services, "photos", photos / "jpg" / "orientation" / "landscape_6.jpg")
    assert o6["orientation"] == 6
    assert (o6["width"], o6["height"]) == (o1["width"], o1["height"])
    assert o1["width"] > o1["height"]
    tiff = _payload_of(services, "photos", photos / "tiff" / "Crémieux11.tiff")
    assert tiff["format"] == "TIFF"
    heif = _payload_of(services, "photos", photos / "heic" / "samplefilehub.heif")
    assert heif["format"] == "HEIF"


def test_broken_exif_files_still_ingest(services: Services, photos: Path) -> None:
    job = _ingest(services, photos / "jpg" / "invalid")
    assert job.counters.ingested == len(photo_files(photos / "jpg" / "invalid")) > 0
    assert job.errors == []


def test_reingest_is_idempotent_even_after_cache_clear(services: Services, photos: Path) -> None:
    first = _ingest(services, photos)
    points = services.store.info("photos").points
    second = _ingest(services, photos)
    assert second.counters.unchanged == first.counters.total
    assert second.counters.ingested == 0
    CollectionManager(services).clear_cache("photos")
    third = _ingest(services, photos)
    assert third.counters.ingested == first.counters.total  # inferred again, not skipped
    assert services.store.info("photos").points == points


def test_cache_hits_when_a_file_moves_and_same_content_is_one_point(
    services: Services, photos: Path
) -> None:
    _ingest(services, photos / "jpg" / "gps")
    src = photos / "jpg" / "gps" / "DSCN0010.jpg"
    copy_dir = photos.parent / "copies"
    copy_dir.mkdir()
    dup = copy_dir / "same_bytes.jpg"
    shutil.copyfile(src, dup)
    job = _ingest(services, copy_dir)
    assert (job.counters.cached, job.counters.ingested) == (1, 0)
    payload = services.store.payloads("photos", [point_id_of(src)])[point_id_of(src)]
    assert sorted(payload["paths"]) == sorted([str(src), str(dup)])
    assert services.store.info("photos").points == len(photo_files(photos / "jpg" / "gps"))


def point_id_of(path: Path) -> str:
    from ingest_gui.core.hashing import sha256_file

    return point_id(sha256_file(path))


def test_same_content_twice_in_one_job(services: Services, photos: Path) -> None:
    folder = photos.parent / "twins"
    folder.mkdir()
    for name in ("a.jpg", "b.JPG"):
        shutil.copyfile(photos / "jpg" / "Canon_40D.jpg", folder / name)
    job = _ingest(services, folder)
    assert job.counters.total == 2 and job.counters.failed == 0
    assert services.store.info("photos").points == 1
    [hit] = list(services.store.scroll("photos"))
    assert len(hit.payload["paths"]) == 2


def test_cancel_stops_and_keeps_what_was_done(services: Services, photos: Path) -> None:
    CollectionManager(services).create("photos", backend="builtin")
    job = Job([photos], "photos")
    seen: list[ProgressEvent] = []

    def on_event(event: ProgressEvent) -> None:
        seen.append(event)
        if event.counters.done >= 5:
            job.cancel()

    run_job(services, job, on_event)
    assert job.state is JobState.CANCELLED
    assert 5 <= job.counters.done < job.counters.total
    kept = services.store.info("photos").points
    assert kept >= 1
    rerun = run_job(services, Job([photos], "photos"))
    assert rerun.state is JobState.COMPLETED
    assert rerun.counters.unchanged >= kept - 1
    assert services.store.info("photos").points == rerun.counters.total


def test_model_mismatch_is_refused(services: Services, photos: Path) -> None:
    manager = CollectionManager(services)
    manager.create("small", vector_size=256, backend="builtin")
    manager.create("big", vector_size=512, backend="builtin")
    job = run_job(services, Job([photos / "tiff"], "small", backend="http"))
    assert job.state is JobState.FAILED
    assert "mix" in (job.message or "")
    assert services.store.info("small").points == 0
    services.store.set_model("big", "builtin", "builtin-pixels-v0")  # filled by an older model
    job = run_job(services, Job([photos / "tiff"], "big"))
    assert job.state is JobState.FAILED and "builtin-pixels-v0" in (job.message or "")
    assert isinstance(ModelMismatchError("x"), Exception)


def test_missing_collection_and_folder_fail_clearly(services: Services, photos: Path) -> None:
    job = run_job(services, Job([photos], "nope"))
    assert job.state is JobState.FAILED and "'nope' does not exist" in (job.message or "")
    CollectionManager(services).create("photos")
    job = run_job(services, Job([photos / "missing"], "photos"))
    assert job.state is JobState.FAILED and "folder not found" in (job.message or "")


def test_two_jobs_share_services_concurrently(services: Services, photos: Path) -> None:
    manager = CollectionManager(services)
    manager.create("a")
    manager.create("b")
    jobs = [Job([photos], "a"), Job([photos], "b"), Job([photos / "jpg"], "a")]
    threads = [threading.Thread(target=run_job, args=(services, j)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(j.state is JobState.COMPLETED for j in jobs), [j.message for j in jobs]
    total = len(photo_files(photos))
    assert services.store.info("a").points == total
    assert services.store.info("b").points == total
    assert all(j.counters.failed == 0 for j in jobs)


def test_bad_files_fail_with_reasons_and_do_not_stop_the_job(
    services: Services, photos: Path
) -> None:
    folder = photos / "jpg" / "gps"
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not an image")
    data = (folder / "DSCN0010.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    job = _ingest(services, folder)
    assert job.state is JobState.COMPLETED
    reasons = {Path(e.path).name: (e.stage, e.reason) for e in job.errors}
    assert reasons["empty.jpg"] == ("read", "empty file (0 bytes)")
    assert reasons["notes.jpg"][0] == "decode" and "not a recognised image" in reasons["notes.jpg"][1]
    assert "truncated" in reasons["truncated.jpg"][1]
    assert job.counters.done == job.counters.total
    assert job.counters.ingested == len(photo_files(folder)) - 3
