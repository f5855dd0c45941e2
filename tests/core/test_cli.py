"""The headless command line, run as a real subprocess like a user would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import photo_files
from tests.mlserver import FakeMLServer


def cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "ingest_gui", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )


def cli_json(*args: str, **kw: Any) -> dict[str, Any]:
    proc = cli(*args, "--json", **kw)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_ingest_prints_a_complete_json_summary(data_dir: Path, photos: Path) -> None:
    summary = cli_json("ingest", str(photos), "--collection", "demo", "--create")
    expected = len(photo_files(photos))
    assert summary["status"] == "completed"
    assert summary["collection"] == "demo"
    assert summary["total_files"] == expected == summary["ingested"]
    assert summary["failed"] == 0 and summary["errors"] == []
    assert set(summary) >= {"job_id", "cached", "unchanged", "elapsed_s"}
    again = cli_json("ingest", str(photos), "--collection", "demo")
    assert again["unchanged"] == expected and again["ingested"] == 0


def test_per_file_failures_still_exit_zero(data_dir: Path, photos: Path) -> None:
    (photos / "tiff" / "broken.tif").write_bytes(b"II*\x00garbage")
    summary = cli_json("ingest", str(photos / "tiff"), "-c", "t", "--create", "--no-caption")
    assert summary["failed"] == 1
    [err] = summary["errors"]
    assert err["path"].endswith("broken.tif") and err["stage"] == "decode" and err["reason"]


def test_cannot_run_gives_one_line_reason(data_dir: Path, photos: Path) -> None:
    missing = cli("ingest", str(photos), "--collection", "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "ingest-gui: error: collection 'nope' does not exist (add --create to create it)"
    )
    no_dir = cli("ingest", str(photos / "absent"), "--collection", "x", "--create")
    assert no_dir.returncode == 1 and "folder not found" in no_dir.stderr
    assert "Traceback" not in no_dir.stderr


def test_ml_service_unreachable(data_dir: Path, photos: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = cli(
        "ingest", str(photos / "tiff"), "-c", "m", "--create", "--backend", "http",
        env_extra={"ML_INFERENCE_SERVICE_URL": f"http://127.0.0.1:{port}"},
    )
    assert proc.returncode == 1
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_collections_cache_and_search_commands(data_dir: Path, photos: Path) -> None:
    created = cli_json("collections", "create", "lib", "--vector-size", "256", "--distance", "Dot")
    assert (created["vector_size"], created["distance"]) == (256, "Dot")
    cli_json("ingest", str(photos / "jpg"), "-c", "lib")
    listed = cli_json("collections", "list")["collections"]
    assert [(c["name"], c["points"]) for c in listed] == [("lib", len(photo_files(photos / "jpg")))]
    assert cli_json("collections", "select", "lib")["active"] is True
    assert cli_json("collections", "list")["collections"][0]["active"] is True
    hits = cli_json("search", "--text", "Canon EOS 40D", "--limit", "3")["results"]
    assert hits and hits[0]["path"].endswith(("Canon_40D.jpg", "Canon_40D_photoshop_import.jpg"))
    query = photos / "jpg" / "orientation" / "landscape_5.jpg"
    hits = cli_json("search", "-c", "lib", "--image", str(query), "--limit", "1")["results"]
    assert hits[0]["path"] == str(query)
    assert cli_json("cache", "clear", "--collection", "lib")["cleared"] > 0
    refused = cli("collections", "delete", "lib")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert cli_json("collections", "delete", "lib", "--yes") == {"deleted": "lib"}
    assert cli_json("collections", "list")["collections"] == []
    assert cli("collections", "info", "lib").returncode == 1


def test_http_backend_end_to_end(data_dir: Path, photos: Path, ml_server: FakeMLServer) -> None:
    env = {"ML_INFERENCE_SERVICE_URL": ml_server.url, "ML_INFERENCE_BATCH_SIZE": "4"}
    ml_server.bad_ids = {"Nikon_D70.jpg"}
    summary = cli_json("ingest", str(photos / "jpg"), "-c", "ml", "--create", "--backend",
                       "http", env_extra=env)
    total = len(photo_files(photos / "jpg"))
    assert summary["total_files"] == total
    assert summary["ingested"] == total - 1 and summary["failed"] == 1
    assert summary["errors"][0]["stage"] == "inference"
    info = cli_json("collections", "info", "ml")
    assert info["model"] == "http:test-clip-ViT-B-32" and info["backend"] == "http"
    assert max(r.count for r in ml_server.requests) <= 4
    assert max(max(r.image_bytes) for r in ml_server.requests if r.image_bytes) < 50_000
    # the failed file is retried by the next run, the rest are unchanged
    ml_server.bad_ids = set()
    again = cli_json("ingest", str(photos / "jpg"), "-c", "ml", env_extra=env)
    assert (again["ingested"], again["unchanged"], again["failed"]) == (1, total - 1, 0)
    # builtin into an http collection is refused
    proc = cli("ingest", str(photos / "tiff"), "-c", "ml", "--backend", "builtin")
    assert proc.returncode == 1 and "mix" in proc.stderr
    hits = cli_json("search", "-c", "ml", "--text", "a waterfall", env_extra=env)["results"]
    assert len(hits) == 10  # the service embedded the text; vector search ranked points
