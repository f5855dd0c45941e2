"""Bad input: every file ends ingested or failed with a readable reason, and the job completes."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ingest_gui.core.hashing import sha256_file
from ingest_gui.core.imaging import load_prepared
from ingest_gui.core.jobs import FileError, Job, JobState, ProgressEvent
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.pipeline import run_job
from ingest_gui.core.points import point_id
from ingest_gui.core.services import Services
from ingest_gui.core.settings import load_settings
from tests.core import imagegen

PILLOW_BOMB_LIMIT = 89_478_485  # Pillow's own default; nothing may switch the guard off


def ingest(services: Services, *folders: Path, name: str = "c", **kw: Any) -> Job:
    if not services.store.exists(name):
        CollectionManager(services).create(name, backend="builtin")
    return run_job(services, Job(list(folders), name, **kw))


def reasons(job: Job) -> dict[str, FileError]:
    return {os.path.basename(e.path): e for e in job.errors}


def assert_accounted(job: Job) -> None:
    """Completed, every file in exactly one state, every reason one readable line."""
    assert job.state is JobState.COMPLETED, job.message
    c = job.counters
    assert c.done == c.total == c.ingested + c.cached + c.unchanged + c.failed
    assert len(job.errors) == c.failed
    for e in job.errors:
        assert e.reason and "\n" not in e.reason and "Traceback" not in e.reason, e
        e.path.encode("utf-8")  # shown and written as JSON: must be valid UTF-8


def cli(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest_gui", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=120, **kw,
    )


# --- broken files -----------------------------------------------------------------------


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    imagegen.many_jpegs(root, 3)
    (root / "empty.jpg").write_bytes(b"")
    imagegen.truncated_jpeg(root / "truncated.jpg")
    (root / "notes.jpg").write_text("a shopping list, not a photo\n")
    imagegen.bomb_png(root / "bomb.png")
    imagegen.bomb_gif(root / "bomb.gif")
    os.mkfifo(root / "pipe.jpg")
    os.mkfifo(root / "pipe_no_extension")  # sniffing its content would block for ever
    os.symlink(root / "gone.jpg", root / "broken_link.jpg")
    os.symlink(root / "loop_b.jpg", root / "loop_a.jpg")
    os.symlink(root / "loop_a.jpg", root / "loop_b.jpg")
    (root / "album.jpg").mkdir()  # a folder named like an image is walked, not opened
    imagegen.noise_jpeg(root / "album.jpg" / "inside.jpg", 77)
    return root


EXPECTED = {
    "empty.jpg": ("read", "empty file (0 bytes)"),
    "truncated.jpg": ("decode", "truncated JPEG (image file is truncated"),
    "notes.jpg": ("decode", "not a recognised image (the content does not match any image format)"),
    "bomb.png": ("decode", "image too large to decode safely (decompression-bomb guard): 900,000,000 pixels"),
    "bomb.gif": ("decode", "image too large to decode safely (decompression-bomb guard)"),
    "pipe.jpg": ("scan", "not a regular file (a pipe, socket or device)"),
    "broken_link.jpg": ("scan", "broken symbolic link (its target does not exist)"),
    "loop_a.jpg": ("scan", "symbolic link loop"),
    "loop_b.jpg": ("scan", "symbolic link loop"),
}


def test_broken_files_fail_with_readable_reasons(services: Services, bad_folder: Path) -> None:
    started = time.monotonic()
    job = ingest(services, bad_folder)
    assert time.monotonic() - started < 20  # a pipe or a bomb never stalls the job
    assert_accounted(job)
    got = reasons(job)
    assert set(got) == set(EXPECTED)
    for name, (stage, start) in EXPECTED.items():
        assert (got[name].stage, got[name].reason[: len(start)]) == (stage, start), got[name]
    assert job.counters.ingested == 4  # 3 JPEGs + the one inside the folder named album.jpg
    assert services.store.info("c").points == 4
    again = ingest(services, bad_folder)
    assert_accounted(again)
    assert (again.counters.unchanged, again.counters.failed) == (4, len(EXPECTED))
    assert services.store.info("c").points == 4


def test_bomb_guard_stays_on_and_bombs_are_not_decoded(services: Services, tmp_path: Path) -> None:
    for module in ("ingest_gui.core.inference.builtin", "ingest_gui.core.metadata"):
        importlib.import_module(module)  # every module that touches pixels is loaded

    assert Image.MAX_IMAGE_PIXELS == PILLOW_BOMB_LIMIT
    bomb = imagegen.bomb_png(tmp_path / "bomb.png", side=40_000)
    assert bomb.stat().st_size < 200
    with pytest.raises(Image.DecompressionBombError):
        load_prepared(bomb)
    started = time.monotonic()
    job = ingest(services, bomb)
    assert time.monotonic() - started < 5
    [error] = job.errors
    assert "1,600,000,000 pixels, the limit is 178,956,970" in error.reason


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow says so; the payload notes it
def test_unusual_modes_frames_heic_and_corrupt_exif_all_ingest(
    services: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "modes"
    files = imagegen.odd_modes(folder)
    imagegen.heic(folder / "phone.heic")
    imagegen.corrupt_exif_jpeg(folder / "bad_exif.jpg")
    job = ingest(services, folder)
    assert_accounted(job)
    assert job.errors == []
    assert job.counters.ingested == len(files) + 2
    payloads = {h.payload["filename"]: h.payload for h in services.store.scroll("c")}
    assert payloads["phone.heic"]["format"] == "HEIF"
    assert (payloads["cmyk.jpg"]["width"], payloads["cmyk.jpg"]["height"]) == (60, 40)
    assert payloads["frames.gif"]["format"] == "GIF"
    assert payloads["bad_exif.jpg"]["metadata_warnings"]  # noted, not fatal


def test_decoding_odd_modes_gives_sane_rgb(tmp_path: Path) -> None:
    files = imagegen.odd_modes(tmp_path)
    for path in files.values():
        assert load_prepared(path).mode == "RGB", path
    assert load_prepared(files["gif"]).getpixel((5, 5)) == (255, 0, 0)  # first frame, red
    assert load_prepared(files["tiff"]).getpixel((5, 5)) == (255, 0, 0)
    top = load_prepared(files["rgba"]).getpixel((30, 0))
    assert min(top) > 240  # fully transparent pixels flattened on white, not black
    ramp = load_prepared(files["gray16"])
    low, high = ramp.getpixel((0, 0)), ramp.getpixel((59, 39))
    assert low[0] < 20 and high[0] > 200  # 16-bit scaled to 8, not clipped to white
    assert load_prepared(files["cmyk"]).getpixel((0, 0)) != (0, 0, 0)


# --- names ------------------------------------------------------------------------------


def test_undecodable_and_very_long_names_survive_json_payloads_and_cache(
    data_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "names"
    root.mkdir()
    raw_root = os.fsencode(root)
    (Path(os.fsdecode(raw_root + b"/caf\xe9.jpg"))).write_bytes(imagegen.jpeg_bytes(1))
    (Path(os.fsdecode(raw_root + b"/\xff\xfe broken.jpg"))).write_text("not an image")
    odd_dir = Path(os.fsdecode(raw_root + b"/dossier_\xe9t\xe9"))
    odd_dir.mkdir()
    (odd_dir / "inside.jpg").write_bytes(imagegen.jpeg_bytes(2))
    long_ascii = "L" * 251 + ".jpg"
    long_utf8 = "é" * 125 + ".jpg"  # 254 bytes on disk
    assert len(os.fsencode(long_ascii)) == 255 and len(os.fsencode(long_utf8)) == 254
    (root / long_ascii).write_bytes(imagegen.jpeg_bytes(3))
    (root / long_utf8).write_bytes(imagegen.jpeg_bytes(4))

    proc = cli("ingest", str(root), "-c", "names", "--create", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["total_files"], summary["ingested"], summary["failed"]) == (5, 4, 1)
    [err] = summary["errors"]
    assert err["path"].endswith("/\\xff\\xfe broken.jpg") and err["stage"] == "decode"

    svc = Services(load_settings())
    try:
        again = run_job(svc, Job([root], "names"))
        assert (again.counters.unchanged, again.counters.ingested) == (4, 0)  # keys held
        hits = list(svc.store.scroll("names"))
        shown = sorted(p for h in hits for p in h.payload["paths"])
    finally:
        svc.close()
    for hit in hits:
        json.dumps(hit.payload, ensure_ascii=False).encode("utf-8")  # strict: no lone surrogates
    assert f"{root}/caf\\xe9.jpg" in shown
    assert f"{root}/dossier_\\xe9t\\xe9/inside.jpg" in shown
    assert f"{root}/{long_ascii}" in shown and f"{root}/{long_utf8}" in shown
    log_text = (data_dir / "logs" / "ingest_gui.log").read_bytes().decode("utf-8")  # strict
    assert "broken.jpg" in log_text


# --- the folder itself ----------------------------------------------------------------------


def test_missing_folder_or_a_plain_file_is_refused_before_the_job(
    services: Services, tmp_path: Path
) -> None:
    CollectionManager(services).create("c")
    events: list[ProgressEvent] = []
    job = run_job(services, Job([tmp_path / "nowhere"], "c"), events.append)
    assert job.state is JobState.FAILED and job.message == f"folder not found: {tmp_path / 'nowhere'}"
    assert [e.kind for e in events] == ["started", "finished"] and job.counters.total == 0
    text = tmp_path / "list.txt"
    text.write_text("not a folder")
    job = run_job(services, Job([text], "c"))
    assert job.state is JobState.FAILED
    assert job.message == f"not a folder: {text} is a file, and not an image"
    photo = imagegen.noise_jpeg(tmp_path / "one.jpg", 1)  # one image file is fine
    assert run_job(services, Job([photo], "c")).counters.ingested == 1


def test_cli_refuses_a_bad_folder_before_creating_anything(data_dir: Path, tmp_path: Path) -> None:
    text = tmp_path / "list.txt"
    text.write_text("x")
    for target, words in ((tmp_path / "nowhere", "folder not found"), (text, "not a folder")):
        proc = cli("ingest", str(target), "-c", "never", "--create")
        assert proc.returncode == 1
        assert proc.stderr.startswith(f"ingest-gui: error: {words}") and "Traceback" not in proc.stderr
    svc = Services(load_settings())
    try:
        assert svc.store.list_collections() == []
    finally:
        svc.close()


# --- permissions ----------------------------------------------------------------------------

# Root reads a chmod-000 file anyway (CAP_DAC_OVERRIDE). Under root the CLI runs in a process
# whose capability bounding set lacks CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so the
# kernel refuses the read exactly as it would for an ordinary user.
_DROP_CAPS = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        sys.exit(77)
os.execv(sys.executable, [sys.executable, "-m", "ingest_gui", *sys.argv[1:]])
"""


def _as_unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0:
        return cli(*args)
    proc = subprocess.run(
        [sys.executable, "-c", _DROP_CAPS, *args], capture_output=True, text=True, timeout=120
    )
    if proc.returncode == 77:
        pytest.skip("root here cannot drop CAP_DAC_OVERRIDE (no CAP_SETPCAP), so cannot be refused a read")
    return proc


def test_unreadable_file_and_folder_are_reported(data_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "perm"
    imagegen.many_jpegs(root, 2)
    secret = imagegen.noise_jpeg(root / "secret.jpg", 90)
    private = root / "private"
    private.mkdir()
    imagegen.noise_jpeg(private / "hidden_away.jpg", 91)
    secret.chmod(0)
    private.chmod(0)
    try:
        proc = _as_unprivileged("ingest", str(root), "-c", "perm", "--create", "--json")
    finally:
        secret.chmod(0o644)
        private.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["total_files"], summary["ingested"], summary["failed"]) == (4, 2, 2)
    got = {Path(e["path"]).name: (e["stage"], e["reason"]) for e in summary["errors"]}
    assert got["secret.jpg"][1].startswith("permission denied")
    assert got["private"] == ("scan", "cannot open this folder: permission denied")
    rerun = json.loads(cli("ingest", str(root), "-c", "perm", "--json").stdout)
    assert (rerun["ingested"], rerun["unchanged"], rerun["failed"]) == (2, 2, 0)


# --- files that move under the job ------------------------------------------------------------


def test_files_that_vanish_or_change_during_the_job(services: Services, tmp_path: Path) -> None:
    root = tmp_path / "moving"
    files = imagegen.many_jpegs(root, 60)
    doomed, rewritten = files[-5:], files[-10:-5]

    def on_event(event: ProgressEvent) -> None:
        if event.kind == "scanned":  # found by the scan, gone or new before they are read
            for path in doomed:
                path.unlink()
            for i, path in enumerate(rewritten):
                imagegen.noise_jpeg(path, 1000 + i)  # new bytes before the job reads them

    CollectionManager(services).create("c")
    job = run_job(services, Job([root], "c"), on_event)
    assert_accounted(job)
    got = reasons(job)
    assert set(got) == {p.name for p in doomed}
    assert {(e.stage, e.reason) for e in got.values()} == {
        ("read", "file vanished before it could be read")
    }
    for path in rewritten:  # the point holds the bytes on disk now, not the scanned ones
        pid = point_id(sha256_file(path))
        assert str(path) in services.store.payloads("c", [pid])[pid]["paths"]
    again = run_job(services, Job([root], "c"))
    assert (again.counters.total, again.counters.unchanged) == (55, 55)


def test_a_file_rewritten_throughout_the_job_ends_consistent(
    services: Services, tmp_path: Path
) -> None:
    root = tmp_path / "busy"
    imagegen.many_jpegs(root, 40)
    busy = root / "img_00020.jpg"
    versions = [imagegen.jpeg_bytes(500 + i, (320, 240)) for i in range(4)]
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            tmp = busy.with_name("busy.part")  # not an image name: never scanned
            tmp.write_bytes(versions[i % len(versions)])
            os.replace(tmp, busy)
            i += 1
            time.sleep(0.002)

    thread = threading.Thread(target=writer)
    CollectionManager(services).create("c")
    thread.start()
    try:
        job = run_job(services, Job([root], "c"))
    finally:
        stop.set()
        thread.join()
    assert_accounted(job)
    assert job.counters.total == 40 and job.counters.failed <= 1
    final = run_job(services, Job([root], "c"))  # the folder is quiet now
    assert_accounted(final)
    assert final.counters.failed == 0
    pid = point_id(sha256_file(busy))
    assert str(busy) in services.store.payloads("c", [pid])[pid]["paths"]
    third = run_job(services, Job([root], "c"))
    assert third.counters.unchanged == 40


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc")
def test_memory_stays_bounded_for_a_huge_photo(data_dir: Path, tmp_path: Path) -> None:
    """An 80-megapixel JPEG is decoded at 1/8 scale: the process never holds its pixels."""
    folder = tmp_path / "huge"
    folder.mkdir()
    Image.new("RGB", (10_000, 8_000), (90, 140, 200)).save(folder / "huge.jpg", quality=70)
    imagegen.many_jpegs(folder, 20)
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak across exec into ru_maxrss.
    script = (
        "import re, sys, runpy\n"
        "sys.argv = ['ingest_gui', 'ingest', sys.argv[1], '-c', 'huge', '--create', '--json']\n"
        "try:\n    runpy.run_module('ingest_gui', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "status = open('/proc/self/status').read()\n"
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) // 1024, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=120
    )
    summary = json.loads(proc.stdout)
    assert (summary["ingested"], summary["failed"]) == (21, 0), summary
    peak_mb = int(proc.stderr.strip().splitlines()[-1])
    assert peak_mb < 250, f"peak RSS {peak_mb} MB: the 240 MB of full-size pixels were decoded"
