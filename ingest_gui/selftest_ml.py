"""A minimal ML inference service on 127.0.0.1 for `--self-test` (the tests have a fuller one).

It speaks the service's contract for `/health` and `/api/v1/batch_embed_and_caption`:
every image must decode, and gets a deterministic 512-d vector and a caption.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "selftest-clip"
BATCH_PATH = "/api/v1/batch_embed_and_caption"


@contextmanager
def ml_server() -> Iterator[str]:
    """A minimal ML inference service on 127.0.0.1 for the life of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MLHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="selftest-ml")
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _MLHandler(BaseHTTPRequestHandler):
    """/health and /api/v1/batch_embed_and_caption, per the service's contract."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # stdout carries only the JSON report

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/health":
            self._reply(200, {"status": "ok"})
        else:
            self._reply(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path != BATCH_PATH:
            self._reply(404, {"detail": "Not Found"})
            return
        caption = "caption=false" not in query
        try:
            images = json.loads(body)["images"]
            results = [_embed_item(item, caption) for item in images]
        except (ValueError, KeyError, TypeError) as exc:
            self._reply(422, {"detail": f"bad request: {exc}"})
            return
        self._reply(200, {"results": results})

    def _reply(self, status: int, answer: Any) -> None:
        data = json.dumps(answer).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _embed_item(item: dict[str, Any], caption: bool) -> dict[str, Any]:
    """A deterministic 512-d vector from the image bytes (they must decode)."""
    import numpy as np
    from PIL import Image

    raw = base64.b64decode(item["image_base64"], validate=True)
    with Image.open(io.BytesIO(raw)) as im:
        im.load()
        size = im.size
    seed = int.from_bytes(hashlib.sha256(raw).digest()[:8], "big")
    vector = np.random.default_rng(seed).standard_normal(512).tolist()
    return {
        "unique_id": item.get("unique_id"),
        "filename": item.get("filename"),
        "embedding": vector,
        "embedding_shape": [512],
        "caption": f"a photo of {size[0]}x{size[1]} pixels" if caption else "",
        "error": None,
        "model_name_clip": MODEL,
        "model_name_blip": "selftest-blip",
        "device_used": "cpu",
    }
