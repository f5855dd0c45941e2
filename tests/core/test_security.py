"""Security: API keys stay out of logs and plain files, TLS is verified, symlinks stay inside."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import os
import socket
import ssl
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from ingest_gui.core import secrets
from ingest_gui.core.errors import ServiceUnavailableError, StoreError
from ingest_gui.core.hashing import sha256_file
from ingest_gui.core.inference.http import HttpInferenceClient
from ingest_gui.core.jobs import Job, JobState
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.pipeline import run_job
from ingest_gui.core.points import point_id
from ingest_gui.core.services import Services
from ingest_gui.core.settings import SETTINGS_FILE, load_settings, save_secrets, save_settings
from ingest_gui.core.store import VectorStore
from tests.core import imagegen
from tests.core.test_faults_input import cli
from tests.mlserver import FakeMLServer

ML_KEY = "ml-key-5e1f0c2b9a7d"
QDRANT_KEY = "qdrant-key-8c4d2e6f1a3b"


class MemoryKeyring(KeyringBackend):
    """A keyring in a dict: tests never touch the user's real one."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.saved: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.saved.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.saved[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.saved.pop((service, username), None)


class BrokenKeyring(MemoryKeyring):
    """A keyring that is there but fails (locked, no D-Bus session, ...)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked(f"locked while asking for {username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError(f"cannot store {password}")


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    ring = MemoryKeyring()
    keyring.set_keyring(ring)  # the autouse fixture in conftest puts the null one back
    return ring


# --- where keys live ----------------------------------------------------------------------


def test_keys_go_to_the_keyring_never_to_the_settings_file(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    env = {"INGEST_GUI_DATA_DIR": str(tmp_path)}
    s = load_settings(env=env).with_values(ml_api_key=ML_KEY, qdrant_api_key=QDRANT_KEY)
    assert save_secrets(s) == []
    path = save_settings(s)
    text = path.read_text()
    assert ML_KEY not in text and QDRANT_KEY not in text
    assert memory_keyring.saved == {
        ("ingest_gui", "ML_INFERENCE_API_KEY"): ML_KEY,
        ("ingest_gui", "QDRANT_API_KEY"): QDRANT_KEY,
    }
    loaded = load_settings(env=env)  # keyring second ...
    assert (loaded.ml_api_key, loaded.qdrant_api_key) == (ML_KEY, QDRANT_KEY)
    env["ML_INFERENCE_API_KEY"] = "from-env"  # ... environment first
    assert load_settings(env=env).ml_api_key == "from-env"
    assert ML_KEY not in repr(loaded) and QDRANT_KEY not in repr(loaded)
    assert save_secrets(loaded.with_values(ml_api_key=None)) == []  # empty forgets
    assert ("ingest_gui", "ML_INFERENCE_API_KEY") not in memory_keyring.saved


def test_a_key_written_into_the_settings_file_by_hand_is_ignored(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_FILE).write_text(
        json.dumps({"schema_version": 1, "values": {"ml_api_key": ML_KEY, "ml_batch_size": 4}})
    )
    s = load_settings(env={"INGEST_GUI_DATA_DIR": str(tmp_path)})
    assert (s.ml_batch_size, s.ml_api_key) == (4, None)


def test_without_a_usable_keyring_keys_come_from_the_environment_only(tmp_path: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    assert not secrets.keyring_usable() and secrets.keyring_name() == "none"
    env = {"INGEST_GUI_DATA_DIR": str(tmp_path), "QDRANT_API_KEY": QDRANT_KEY}
    s = load_settings(env=env).with_values(ml_api_key=ML_KEY)
    assert save_secrets(s) == ["ML_INFERENCE_API_KEY"]  # tell the user to use the variable
    assert load_settings(env=env).qdrant_api_key == QDRANT_KEY


def test_a_broken_keyring_never_stops_the_app_nor_logs_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keyring.set_keyring(BrokenKeyring())
    caplog.set_level(logging.DEBUG)
    env = {"INGEST_GUI_DATA_DIR": str(tmp_path)}
    s = load_settings(env=env)
    assert s.ml_api_key is None
    assert save_secrets(s.with_values(ml_api_key=ML_KEY)) == ["ML_INFERENCE_API_KEY"]
    assert "cannot read ML_INFERENCE_API_KEY from the keyring: KeyringLocked" in caplog.text
    assert ML_KEY not in caplog.text


# --- keys never reach logs or files ---------------------------------------------------------


def test_api_keys_never_reach_logs_output_or_files(
    data_dir: Path, tmp_path: Path, ml_server: FakeMLServer
) -> None:
    folder = tmp_path / "photos"
    imagegen.many_jpegs(folder, 12)
    (folder / "broken.jpg").write_text("x")
    ml_server.require_api_key = ML_KEY
    ml_server.bad_ids = {"img_00004.jpg"}
    ml_server.fail_next_503 = 1
    env = {
        "ML_INFERENCE_SERVICE_URL": ml_server.url, "ML_INFERENCE_API_KEY": ML_KEY,
        "QDRANT_API_KEY": QDRANT_KEY, "ML_INFERENCE_BATCH_SIZE": "4",
    }
    runs = [
        cli("ingest", str(folder), "-c", "sec", "--create", "--backend", "http", "--json", env=env),
        cli("search", "-c", "sec", "--text", "a red square", env=env),
        # a wrong key: the service answers 401, the message must not echo the key sent
        cli("ingest", str(folder), "-c", "sec2", "--create", "--backend", "http",
            env={**env, "ML_INFERENCE_API_KEY": "wrong-" + ML_KEY}),
    ]
    first = json.loads(runs[0].stdout)
    assert (first["ingested"], first["failed"]) == (11, 2)
    assert runs[2].returncode == 1 and "HTTP 401" in runs[2].stderr
    assert all(c.headers.get("Authorization") == f"Bearer {ML_KEY}" for c in ml_server.calls[:3])
    for proc in runs:
        for text in (proc.stdout, proc.stderr):
            assert ML_KEY not in text and QDRANT_KEY not in text
    written = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "ingest_gui.log" for p in written)
    for path in written:
        data = path.read_bytes()
        assert ML_KEY.encode() not in data and QDRANT_KEY.encode() not in data, path


def test_http_client_debug_logs_do_not_carry_the_key(
    ml_server: FakeMLServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx, httpcore
    ml_server.require_api_key = ML_KEY
    with HttpInferenceClient(ml_server.url, api_key=ML_KEY, backoff_s=0.01) as client:
        assert client.model_name.startswith("http:")
        assert ML_KEY not in repr(client)
    assert caplog.records and ML_KEY not in caplog.text


def test_qdrant_key_stays_out_of_errors(data_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = load_settings(
        env={
            "INGEST_GUI_DATA_DIR": str(data_dir), "QDRANT_URL": f"http://127.0.0.1:{port}",
            "QDRANT_API_KEY": QDRANT_KEY,
        }
    )
    assert QDRANT_KEY not in settings.describe_qdrant() and QDRANT_KEY not in repr(settings)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        store = VectorStore.from_settings(settings)
        for thread in threading.enumerate():  # qdrant-client checks the version in a thread
            if "_check_compatibility" in thread.name:
                thread.join(10)
    told = [str(w.message) for w in seen]
    assert any("insecure connection" in t for t in told), told  # qdrant-client warns of http
    assert not any(QDRANT_KEY in t for t in told)
    try:
        with pytest.raises(StoreError) as caught:
            store.list_collections()
        assert QDRANT_KEY not in str(caught.value)
        assert str(caught.value).startswith(f"Qdrant (http://127.0.0.1:{port})")
    finally:
        store.close()


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[FakeMLServer, Path]]:
    """The test ML service behind TLS with a freshly made self-signed certificate."""
    cert, key = _self_signed(tmp_path)
    server = FakeMLServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.start()
    try:
        yield server, cert
    finally:
        server.stop()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def https_url(server: FakeMLServer) -> str:
    return server.url.replace("http://", "https://")


def test_an_untrusted_certificate_is_refused_at_once_with_a_readable_reason(
    https_server: tuple[FakeMLServer, Path],
) -> None:
    server, _cert = https_server
    started = time.monotonic()
    client = HttpInferenceClient(https_url(server))  # default retries and back-off
    with client, pytest.raises(ServiceUnavailableError) as caught:
        client.connect()
    assert time.monotonic() - started < 1.0  # not retried: waiting cannot fix trust
    assert str(caught.value) == (
        f"ML service at {https_url(server)}: its TLS certificate is not trusted "
        "(self-signed certificate); use a certificate from a trusted authority, or add its "
        "CA certificate to the file SSL_CERT_FILE names"
    )
    assert server.calls == []  # not one request went over the unverified connection


def test_a_trusted_certificate_works(
    https_server: tuple[FakeMLServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, cert = https_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the user's way to trust a private CA
    with HttpInferenceClient(https_url(server)) as client:
        assert client.model_name == "http:test-clip-ViT-B-32"


def test_the_cli_reports_an_untrusted_service_in_one_line(
    data_dir: Path, tmp_path: Path, https_server: tuple[FakeMLServer, Path]
) -> None:
    server, _cert = https_server
    imagegen.many_jpegs(tmp_path / "p", 2)
    proc = cli("ingest", str(tmp_path / "p"), "-c", "tls", "--create", "--backend", "http",
               env={"ML_INFERENCE_SERVICE_URL": https_url(server)})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"ingest-gui: error: ML service at {https_url(server)}: its TLS certificate is not "
        "trusted (self-signed certificate); use a certificate from a trusted authority, or add "
        "its CA certificate to the file SSL_CERT_FILE names"
    ]


# --- symbolic links ---------------------------------------------------------------------------


@pytest.fixture
def linked(tmp_path: Path) -> dict[str, Any]:
    outside = tmp_path / "private"
    (outside / "more").mkdir(parents=True)
    secret = imagegen.noise_jpeg(outside / "secret.jpg", 666)
    deeper = imagegen.noise_jpeg(outside / "more" / "deeper.jpg", 667)
    root = tmp_path / "chosen"
    imagegen.many_jpegs(root, 3)
    os.symlink(secret, root / "shortcut.jpg")
    os.symlink(outside / "more", root / "more_photos")
    return {"root": root, "outside": [secret, deeper]}


def _outside_points(services: Services, name: str, files: list[Path]) -> dict[str, Any]:
    return services.store.payloads(name, [point_id(sha256_file(f)) for f in files])


def test_symlinks_out_of_the_folder_are_not_followed_unless_asked(
    services: Services, linked: dict[str, Any]
) -> None:
    CollectionManager(services).create("c")
    job = run_job(services, Job([linked["root"]], "c"))
    assert job.state is JobState.COMPLETED
    assert job.counters.ingested == 3
    [error] = job.errors
    assert error.stage == "scan" and "points outside the folder" in error.reason
    assert _outside_points(services, "c", linked["outside"]) == {}  # never read
    asked = run_job(services, Job([linked["root"]], "c", follow_symlinks=True))
    assert (asked.counters.ingested, asked.counters.unchanged, asked.errors) == (2, 3, [])
    assert len(_outside_points(services, "c", linked["outside"])) == 2


def test_cli_follow_symlinks_flag(data_dir: Path, linked: dict[str, Any]) -> None:
    proc = cli("ingest", str(linked["root"]), "-c", "c", "--create", "--follow-symlinks", "--json")
    summary = json.loads(proc.stdout)
    assert (summary["ingested"], summary["failed"]) == (5, 0)


def test_no_keyring_package_means_no_saved_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # as if it were not installed
    assert secrets.get_secret("ML_INFERENCE_API_KEY") is None
    assert secrets.set_secret("ML_INFERENCE_API_KEY", ML_KEY) is False
