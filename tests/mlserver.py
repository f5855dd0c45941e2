"""A real HTTP server speaking the ML inference service's contract, for tests.

It listens on 127.0.0.1 on a free port, answers from a background thread pool
(`ThreadingHTTPServer`), decodes every JPEG it receives and computes a deterministic vector
from its pixels, so tests exercise the real wire format, time-outs and concurrency.

Fault injection: set these attributes on the server at any time.

    fail_next_503: int        answer 503 to the next N requests of any kind
    fail_next_500: int        answer 500 to the next N requests of any kind
    malformed_json_next: int  answer the next N non-health requests with broken JSON
    delay_s: float            sleep this long in every batch request (interrupted by stop())
    vector_size: int          length of the vectors returned (set != 512 to return bad dims)
    bad_ids: set[str]         per-item `error` for these unique_ids or filenames
    health_ready: bool        while False, /health and the model endpoints answer 503
    require_api_key: str|None when set, requests without `Bearer <key>` get 401

Records, for assertions:

    requests: list[BatchRecord]  every batch POST received (count, caption flag, bytes/image)
    calls: list[CallRecord]      every request: method, path, status, headers
    max_concurrent: int          most requests in flight at once
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import importlib
import io
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

MODEL_CLIP = "test-clip-ViT-B-32"
MODEL_BLIP = "test-blip"

BATCH_PATH = "/api/v1/batch_embed_and_caption"


@dataclass
class BatchRecord:
    """One batch request as the server received it."""

    count: int
    caption: bool
    image_bytes: list[int]  # decoded JPEG size of each image
    unique_ids: list[str]
    body_bytes: int
    status: int = 0


@dataclass
class CallRecord:
    """Any request: what was asked and what was answered."""

    method: str
    path: str
    headers: dict[str, str]
    status: int = 0
    started: float = field(default_factory=time.monotonic)


def _describe_fallback(image: Image.Image, vector_size: int) -> list[float]:
    """Normalised 8x8x8 RGB histogram, cut or zero-padded to vector_size."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8).reshape(-1, 3) // 32
    bins = pixels[:, 0].astype(np.int64) * 64 + pixels[:, 1] * 8 + pixels[:, 2]
    hist = np.bincount(bins, minlength=512).astype(np.float64)
    hist /= max(1.0, float(hist.sum()))
    vector = np.zeros(vector_size, dtype=np.float64)
    n = min(vector_size, hist.size)
    vector[:n] = hist[:n]
    return [float(v) for v in vector]


def _load_describe() -> Callable[[Image.Image, int], list[float]]:
    """The built-in descriptor when it exists (and works), else the histogram."""
    try:
        module = importlib.import_module("ingest_gui.core.inference.builtin")
    except ImportError:
        return _describe_fallback
    describe = getattr(module, "describe", None)
    if not callable(describe):
        return _describe_fallback

    def builtin(image: Image.Image, vector_size: int) -> list[float]:
        try:
            out: Any = describe(image, vector_size)
            if isinstance(out, tuple):
                out = out[0]
            values = np.asarray(out, dtype=np.float64).ravel()
        except Exception:  # signature differs or not ready: fall back
            return _describe_fallback(image, vector_size)
        if values.size != vector_size or not np.all(np.isfinite(values)):
            return _describe_fallback(image, vector_size)
        return [float(v) for v in values]

    return builtin


describe_image = _load_describe()


def text_vector(text: str, vector_size: int) -> list[float]:
    """A deterministic pseudo-random vector for a text."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    return [float(v) for v in np.random.default_rng(seed).standard_normal(vector_size)]


class FakeMLServer(ThreadingHTTPServer):
    """The server and its knobs; start() serves in a thread, stop() shuts it all down."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.fail_next_503 = 0
        self.fail_next_500 = 0
        self.malformed_json_next = 0
        self.delay_s = 0.0
        self.vector_size = 512
        self.bad_ids: set[str] = set()
        self.health_ready = True
        self.require_api_key: str | None = None
        self.requests: list[BatchRecord] = []
        self.calls: list[CallRecord] = []
        self.max_concurrent = 0
        self._in_flight = 0
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeMLServer:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="fake-ml-server",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers, close open connections; idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
        with self._state_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def __enter__(self) -> FakeMLServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (time-out, cancel, kill) is expected here, not a bug."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def batch_calls(self, status: int | None = None) -> list[BatchRecord]:
        """Batch requests received, optionally only those answered with `status`."""
        return [r for r in self.requests if status is None or r.status == status]

    def calls_to(self, path: str) -> list[CallRecord]:
        return [c for c in self.calls if c.path == path]

    # ---------------------------------------------------------------- for the handler

    def sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def take(self, knob: str) -> bool:
        """Consume one unit of a fault counter; True when the fault fires now."""
        with self._state_lock:
            left = int(getattr(self, knob))
            if left <= 0:
                return False
            setattr(self, knob, left - 1)
            return True

    def enter(self, conn: socket.socket | None = None) -> None:
        with self._state_lock:
            if conn is not None:
                self._connections.add(conn)
                return
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)

    def leave(self, conn: socket.socket | None = None) -> None:
        with self._state_lock:
            if conn is not None:
                self._connections.discard(conn)
                return
            self._in_flight -= 1

    def record(self, item: CallRecord | BatchRecord) -> None:
        with self._state_lock:
            if isinstance(item, CallRecord):
                self.calls.append(item)
            else:
                self.requests.append(item)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeMLServer

    def setup(self) -> None:
        super().setup()
        self.server.enter(self.connection)

    def finish(self) -> None:
        self.server.leave(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    # ---------------------------------------------------------------- dispatch

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        call = CallRecord(method, parts.path, {k: v for k, v in self.headers.items()})
        self.server.record(call)
        self.server.enter()
        try:
            body = self._read_body()
            status, answer = self._route(method, parts.path, parse_qs(parts.query), body)
            call.status = status
            self._reply(status, answer)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (time-out)
            self.close_connection = True
        except Exception as exc:  # a bug here must not look like a hang
            call.status = 500
            with contextlib.suppress(OSError):
                self._reply(500, {"detail": f"fake server error: {exc!r}"})
        finally:
            self.server.leave()

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any]:
        server = self.server
        key = server.require_api_key
        if key is not None and self.headers.get("Authorization") != f"Bearer {key}":
            return 401, {"detail": "Not authenticated"}
        if server.take("fail_next_503"):
            return 503, {"detail": "Service temporarily unavailable (injected)"}
        if server.take("fail_next_500"):
            return 500, {"detail": "Internal Server Error (injected)"}
        if path == "/health" and method == "GET":
            return self._health()
        if not server.health_ready:
            return 503, {"detail": "Models are not loaded yet"}
        if path != "/health" and server.take("malformed_json_next"):
            return 200, b'{"results": [ this is not json'
        if path == BATCH_PATH and method == "POST":
            return self._batch(query, body)
        if path == "/api/v1/embed_text" and method == "POST":
            return self._embed_text(body)
        if path == "/api/v1/capabilities" and method == "GET":
            return 200, self._capabilities()
        return 404, {"detail": "Not Found"}

    def _health(self) -> tuple[int, Any]:
        if not self.server.health_ready:
            return 503, {"status": "loading", "detail": "Models are loading"}
        return 200, {"status": "ok", "clip_model_loaded": True, "blip_model_loaded": True}

    def _capabilities(self) -> dict[str, Any]:
        return {
            "safe_clip_batch": 32,
            "safe_blip_batch": 8,
            "clip_model_loaded": True,
            "blip_model_loaded": True,
            "device_type": "cpu",
            "cuda_available": False,
        }

    def _embed_text(self, body: bytes) -> tuple[int, Any]:
        try:
            text = json.loads(body)["text"]
        except (ValueError, KeyError, TypeError):
            return 422, {"detail": 'body must be {"text": str}'}
        vector = text_vector(str(text), self.server.vector_size)
        return 200, {"embedding": vector, "embedding_shape": [len(vector)]}

    def _batch(self, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        caption = query.get("caption", ["true"])[0].lower() != "false"
        try:
            images = json.loads(body)["images"]
            if not isinstance(images, list):
                raise TypeError("images is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            return 422, {"detail": f"bad request body: {exc}"}
        if not all(isinstance(item, dict) for item in images):
            return 422, {"detail": "every image must be an object"}
        decoded = [_b64(item) for item in images]
        record = BatchRecord(
            count=len(images),
            caption=caption,
            image_bytes=[len(d) if d is not None else -1 for d in decoded],
            unique_ids=[str(item.get("unique_id", "")) for item in images],
            body_bytes=len(body),
            status=200,
        )
        self.server.record(record)
        if self.server.delay_s > 0:
            self.server.sleep(self.server.delay_s)
        results = [
            self._one(item, data, caption) for item, data in zip(images, decoded, strict=True)
        ]
        return 200, {"results": results}

    def _one(self, item: dict[str, Any], data: bytes | None, caption: bool) -> dict[str, Any]:
        uid = str(item.get("unique_id", ""))
        filename = str(item.get("filename", ""))
        result: dict[str, Any] = {
            "unique_id": uid,
            "filename": filename,
            "embedding": None,
            "embedding_shape": None,
            "caption": None,
            "error": None,
            "model_name_clip": MODEL_CLIP,
            "model_name_blip": MODEL_BLIP,
            "device_used": "cpu",
        }
        if uid in self.server.bad_ids or filename in self.server.bad_ids:
            result["error"] = f"injected failure for {uid}"
            return result
        try:
            with Image.open(io.BytesIO(data or b"")) as im:
                im.load()
                image = im.convert("RGB")
        except Exception as exc:  # any decode failure is this item's error
            result["error"] = f"Failed to decode image: {exc}"
            return result
        vector = describe_image(image, self.server.vector_size)
        result["embedding"] = vector
        result["embedding_shape"] = [len(vector)]
        result["caption"] = f"a photo of size {image.width}x{image.height}" if caption else ""
        return result

    # ---------------------------------------------------------------- wire

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _reply(self, status: int, answer: Any) -> None:
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _b64(item: Any) -> bytes | None:
    try:
        return base64.b64decode(item["image_base64"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None


@contextlib.contextmanager
def serve_ml() -> Iterator[FakeMLServer]:
    """Run a FakeMLServer for the duration of a `with` block."""
    server = FakeMLServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ml_server() -> Iterator[FakeMLServer]:
    """A running fake ML service; `.url` is its base URL; stopped after the test."""
    with serve_ml() as server:
        yield server
