"""An ML service stand-in for benchmarks: answers at once (or after a fixed delay per batch).

It does not decode images, so the client's own cost is what a benchmark measures.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubML:
    """A ThreadingHTTPServer on 127.0.0.1 speaking the seed's contract."""

    def __init__(self, delay_s: float = 0.0, vector_size: int = 512) -> None:
        self.delay_s = delay_s
        self.vector = [1.0 / vector_size**0.5] * vector_size
        self.image_bytes: list[int] = []
        self.batches = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StubML:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        images = body.get("images", [])
        sizes = [len(base64.b64decode(i["image_base64"])) for i in images]
        with self._lock:
            self.image_bytes.extend(sizes)
            self.batches += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        return {
            "results": [
                {
                    "unique_id": i["unique_id"], "filename": i.get("filename"),
                    "embedding": self.vector, "embedding_shape": [len(self.vector)],
                    "caption": "a benchmark image", "error": None,
                    "model_name_clip": "stub-clip", "model_name_blip": "stub-blip",
                    "device_used": "cpu",
                }
                for i in images
            ]
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, data: object) -> None:
                raw = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._send(200, {"status": "ok"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.startswith("/api/v1/batch_embed_and_caption"):
                    self._send(200, stub._answer(body))
                else:
                    self._send(200, {"embedding": stub.vector, "embedding_shape": [512]})

        return Handler
