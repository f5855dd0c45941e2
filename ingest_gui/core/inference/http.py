"""Inference over HTTP: a client for the seed's ML service (CLIP embeddings + BLIP captions).

One `HttpInferenceClient` is shared by every worker thread of every job; its `httpx.Client`
pools connections and is safe for concurrent requests. The service is slow on a CPU
(seconds per image) and answers 503 while its models load, so every call retries transient
failures with exponential back-off and gives up with one readable line.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

from ingest_gui.core.errors import (
    ConfigError,
    InferenceError,
    IngestError,
    ServiceUnavailableError,
)
from ingest_gui.core.imaging import encode_jpeg
from ingest_gui.core.inference.base import HealthStatus, ImageInput, InferenceResult

log = logging.getLogger(__name__)

BATCH_PATH = "/api/v1/batch_embed_and_caption"
TEXT_PATH = "/api/v1/embed_text"
CAPABILITIES_PATH = "/api/v1/capabilities"
HEALTH_PATH = "/health"

_RETRY_STATUSES = {429, 502, 503, 504}
_MAX_500_RETRIES = 2  # an internal error may be a one-off; it rarely heals by waiting longer
_MAX_TIMEOUT_RETRIES = 1  # a timed-out batch is still being worked on; resend it only once
_MAX_BACKOFF_S = 30.0
_HEALTH_TIMEOUT_S = 10.0
_DETAIL_CHARS = 300


@dataclass(frozen=True)
class _Failure:
    """One failed attempt: how many retries this kind of failure allows, and what to raise."""

    error: IngestError
    retry_limit: int
    wait_hint_s: float | None = None


class HttpInferenceClient:
    """The ML inference service behind the `InferenceBackend` protocol; thread-safe."""

    kind = "http"

    def __init__(
        self,
        base_url: str,
        *,
        vector_size: int = 512,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.strip().rstrip("/")
        self._shown_url = _redact_url(self._base_url)
        if not self._base_url.lower().startswith(("http://", "https://")):
            raise ConfigError(
                f"ML service URL must start with http:// or https:// (got {self._shown_url!r})"
            )
        self._vector_size = vector_size
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._retries = max(0, retries)
        self._backoff_s = max(0.0, backoff_s)
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._transport = transport
        self._client = httpx.Client(
            base_url=self._base_url,
            headers=self._headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=transport,
        )
        self._lock = threading.Lock()
        self._model_clip: str | None = None

    def __repr__(self) -> str:
        return f"HttpInferenceClient({self._shown_url!r})"

    def __enter__(self) -> HttpInferenceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- public API

    @property
    def base_url(self) -> str:
        """The service's base URL, without any credentials."""
        return self._shown_url

    @property
    def vector_size(self) -> int:
        """Length every embedding must have."""
        return self._vector_size

    @property
    def model_name(self) -> str:
        """`http:<model_name_clip>`; connects on first use to learn it."""
        return self.connect()

    def connect(self) -> str:
        """Wait until the service is ready, probe its model and vector size; idempotent.

        Returns the model name. Raises ServiceUnavailableError when the service cannot be
        reached or stays not ready, InferenceError when it answers with unusable vectors.
        """
        with self._lock:
            if self._model_clip is None:
                self._send("GET", HEALTH_PATH, what="health check", timeout=self._health_timeout())
                self._model_clip = self._probe()
                log.info("ML service at %s ready: model %s", self._shown_url, self._model_clip)
            return "http:" + self._model_clip

    def embed_images(self, items: list[ImageInput], caption: bool = True) -> list[InferenceResult]:
        """Embed (and caption) one batch; one result per item, in order.

        A bad item gets an `error`; a failed batch raises ServiceUnavailableError or
        InferenceError once retries are exhausted.
        """
        if not items:
            return []
        started = time.monotonic()
        payload = {"images": [_encode_item(item) for item in items]}
        body = json.dumps(payload).encode("utf-8")
        response = self._send(
            "POST", BATCH_PATH, what="batch", params=_caption_param(caption), content=body
        )
        raw_results = self._results_list(response, len(items))
        results = [
            self._to_result(item.unique_id, raw, caption)
            for item, raw in zip(items, _match_results(items, raw_results), strict=True)
        ]
        log.debug(
            "ML batch of %d images (%d KB) in %.2f s",
            len(items),
            len(body) // 1024,
            time.monotonic() - started,
        )
        return results

    def embed_text(self, text: str) -> list[float] | None:
        """Text embedding in the image space; None when the service has no text endpoint."""
        body = json.dumps({"text": text}).encode("utf-8")
        try:
            response = self._send("POST", TEXT_PATH, what="text embedding", content=body)
        except _NotFound:
            return None
        data = self._json(response)
        vector, problem = _vector(data.get("embedding"), self._vector_size)
        if vector is None:
            raise InferenceError(f"ML service at {self._shown_url}: text embedding {problem}")
        return vector

    def capabilities(self) -> dict[str, Any]:
        """The service's `/api/v1/capabilities` answer (batch sizes, device, loaded models)."""
        response = self._send("GET", CAPABILITIES_PATH, what="capabilities")
        return self._json(response)

    def health(self) -> HealthStatus:
        """Readiness right now, without retrying or raising."""
        if self._client.is_closed:
            return HealthStatus(ok=False, detail="client closed")
        try:
            response = self._client.get(HEALTH_PATH, timeout=self._health_timeout())
        except httpx.HTTPError as exc:
            return HealthStatus(ok=False, detail=_health_reason(exc, self._health_timeout()))
        return self._health_from(response)

    async def ahealth(self) -> HealthStatus:
        """`health()` for an asyncio (qasync) event loop, on a short-lived AsyncClient."""
        transport = (
            self._transport if isinstance(self._transport, httpx.AsyncBaseTransport) else None
        )
        timeout = self._health_timeout()
        try:
            async with httpx.AsyncClient(
                base_url=self._base_url, headers=self._headers, transport=transport
            ) as client:
                response = await client.get(HEALTH_PATH, timeout=timeout)
        except httpx.HTTPError as exc:
            return HealthStatus(ok=False, detail=_health_reason(exc, timeout))
        return self._health_from(response)

    def close(self) -> None:
        """Release pooled connections; safe to call twice."""
        self._client.close()

    # ----------------------------------------------------------------- requests

    def _health_timeout(self) -> httpx.Timeout:
        read = min(self._timeout_s, _HEALTH_TIMEOUT_S)
        return httpx.Timeout(read, connect=self._connect_timeout_s)

    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """One request with retries; returns a 2xx response or raises a readable error."""
        headers = {"Content-Type": "application/json"} if content is not None else None
        attempt = 0
        while True:
            try:
                response = self._client.request(
                    method,
                    path,
                    params=params,
                    content=content,
                    headers=headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                failure = self._transport_failure(exc, timeout)
            else:
                if response.is_success:
                    return response
                failure = self._status_failure(response, what)
            if attempt >= failure.retry_limit:
                raise failure.error
            delay = self._backoff(attempt, failure.wait_hint_s)
            attempt += 1
            log.warning(
                "%s; retrying the %s (%d/%d) in %.1f s",
                failure.error,
                what,
                attempt,
                failure.retry_limit,
                delay,
            )
            time.sleep(delay)

    def _transport_failure(
        self, exc: httpx.TransportError, timeout: httpx.Timeout | None
    ) -> _Failure:
        untrusted = _certificate_problem(exc)
        if untrusted is not None:  # waiting will not make the certificate trusted
            return _Failure(
                ServiceUnavailableError(
                    f"ML service at {self._shown_url}: its TLS certificate is not trusted "
                    f"({untrusted}); use a certificate from a trusted authority, or add its "
                    "CA certificate to the file SSL_CERT_FILE names"
                ),
                0,
            )
        reason = _transport_reason(exc, timeout or self._client.timeout)
        error = ServiceUnavailableError(f"ML service at {self._shown_url} {reason}")
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return _Failure(error, min(self._retries, _MAX_TIMEOUT_RETRIES))
        return _Failure(error, self._retries)

    def _status_failure(self, response: httpx.Response, what: str) -> _Failure:
        status = response.status_code
        detail = _error_detail(response)
        where = f"ML service at {self._shown_url}"
        if status == 503:
            error: IngestError = ServiceUnavailableError(f"{where} is not ready: HTTP 503{detail}")
            return _Failure(error, self._retries, _retry_after(response))
        if status in _RETRY_STATUSES:
            error = ServiceUnavailableError(f"{where} failed the {what}: HTTP {status}{detail}")
            return _Failure(error, self._retries, _retry_after(response))
        if status >= 500:
            error = InferenceError(f"{where} failed the {what}: HTTP {status}{detail}")
            return _Failure(error, min(self._retries, _MAX_500_RETRIES))
        if status == 404:
            return _Failure(_NotFound(f"{where} has no {response.request.url.path}"), 0)
        error = InferenceError(f"{where} refused the {what}: HTTP {status}{detail}")
        return _Failure(error, 0)

    def _backoff(self, attempt: int, hint_s: float | None) -> float:
        delay = self._backoff_s * (2.0**attempt)
        if hint_s is not None:
            delay = max(delay, hint_s)
        delay = min(delay, _MAX_BACKOFF_S)
        return delay + random.uniform(0.0, 0.1 * delay)

    # ----------------------------------------------------------------- answers

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise InferenceError(
                f"ML service at {self._shown_url} sent malformed JSON: {_one_line(str(exc))}"
            ) from exc
        if not isinstance(data, dict):
            raise InferenceError(
                f"ML service at {self._shown_url} sent JSON {type(data).__name__}, not an object"
            )
        return data

    def _results_list(self, response: httpx.Response, expected: int) -> list[Any]:
        results = self._json(response).get("results")
        if not isinstance(results, list):
            raise InferenceError(f"ML service at {self._shown_url} sent no 'results' list")
        if len(results) != expected:
            raise InferenceError(
                f"ML service at {self._shown_url} returned {len(results)} results "
                f"for {expected} images"
            )
        return results

    def _to_result(self, unique_id: str, raw: Any, caption: bool) -> InferenceResult:
        if not isinstance(raw, dict):
            return InferenceResult(unique_id, error="ML service sent a malformed result")
        model = self._result_model(raw)
        error = raw.get("error")
        if error:
            return InferenceResult(unique_id, error=_one_line(str(error)), model=model)
        vector, problem = _vector(raw.get("embedding"), self._vector_size)
        if vector is None:
            return InferenceResult(unique_id, error=f"ML service: {problem}", model=model)
        text = raw.get("caption")
        text = text.strip() if caption and isinstance(text, str) and text.strip() else None
        return InferenceResult(unique_id, embedding=vector, caption=text, model=model)

    def _result_model(self, raw: dict[str, Any]) -> str | None:
        name = raw.get("model_name_clip")
        if isinstance(name, str) and name:
            if self._model_clip is not None and name != self._model_clip:
                log.warning("ML service switched model: %s -> %s", self._model_clip, name)
            return "http:" + name
        return "http:" + self._model_clip if self._model_clip else None

    def _probe(self) -> str:
        """Embed one tiny grey image to learn the model's name and vector length."""
        probe = ImageInput("probe", "probe.jpg", Image.new("RGB", (16, 16), (128, 128, 128)))
        body = json.dumps({"images": [_encode_item(probe)]}).encode("utf-8")
        response = self._send(
            "POST", BATCH_PATH, what="probe image", params=_caption_param(False), content=body
        )
        raw = self._results_list(response, 1)[0]
        if not isinstance(raw, dict):
            raise InferenceError(f"ML service at {self._shown_url} sent a malformed result")
        if raw.get("error"):
            reason = _one_line(str(raw["error"]))
            raise InferenceError(f"ML service at {self._shown_url} failed a probe image: {reason}")
        self._check_probe_vector(raw.get("embedding"))
        name = raw.get("model_name_clip")
        if not isinstance(name, str) or not name:
            raise InferenceError(f"ML service at {self._shown_url} does not name its model")
        return name

    def _check_probe_vector(self, embedding: Any) -> None:
        if isinstance(embedding, list) and len(embedding) != self._vector_size:
            raise InferenceError(
                f"ML service returns {len(embedding)}-dim vectors; "
                f"the collection needs {self._vector_size}"
            )
        _, problem = _vector(embedding, self._vector_size)
        if problem:
            raise InferenceError(f"ML service at {self._shown_url}: probe {problem}")

    def _health_from(self, response: httpx.Response) -> HealthStatus:
        status = response.status_code
        extra: dict[str, object] = {"status_code": status, "url": self._shown_url}
        if self._model_clip is not None:
            extra["model"] = "http:" + self._model_clip
        if response.is_success:
            return HealthStatus(ok=True, detail="ok", extra=extra)
        if status == 503:
            return HealthStatus(ok=False, detail="not ready (503)", extra=extra)
        return HealthStatus(ok=False, detail=f"HTTP {status}{_error_detail(response)}", extra=extra)


class _NotFound(InferenceError):
    """HTTP 404: the service lacks this endpoint."""


# --------------------------------------------------------------------- helpers


def _encode_item(item: ImageInput) -> dict[str, str]:
    data = base64.b64encode(encode_jpeg(item.image)).decode("ascii")
    return {"unique_id": item.unique_id, "image_base64": data, "filename": item.filename}


def _caption_param(caption: bool) -> dict[str, str]:
    return {"caption": "true" if caption else "false"}


def _match_results(items: list[ImageInput], results: list[Any]) -> list[Any]:
    """Results in item order: by unique_id when they all match, else by position."""
    ids = [item.unique_id for item in items]
    by_id = {r.get("unique_id"): r for r in results if isinstance(r, dict)}
    if len(set(ids)) == len(ids) and set(by_id) == set(ids):
        return [by_id[i] for i in ids]
    return results


def _vector(value: Any, size: int) -> tuple[list[float] | None, str]:
    """The embedding as floats, or None and what is wrong with it."""
    if not isinstance(value, list) or not value:
        return None, "no embedding in the answer"
    if len(value) != size:
        return None, f"returned a {len(value)}-dim vector; the collection needs {size}"
    try:
        vector = [float(v) for v in value]
    except (TypeError, ValueError):
        return None, "embedding holds non-numbers"
    if not all(math.isfinite(v) for v in vector):
        return None, "embedding holds NaN or infinity"
    return vector, ""


def _transport_reason(exc: httpx.HTTPError, timeout: httpx.Timeout | None) -> str:
    """What went wrong on the wire, e.g. 'is unreachable: connection refused'."""
    if isinstance(exc, httpx.ConnectTimeout):
        limit = timeout.connect if timeout is not None else None
        return f"is unreachable: no connection within {limit} s"
    if isinstance(exc, httpx.TimeoutException):
        limit = timeout.read if timeout is not None else None
        return f"did not answer within {limit} s"
    text = _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return "is unreachable: " + ("connection refused" if "refused" in text.lower() else text)
    return f"dropped the connection: {text}"


def _certificate_problem(exc: BaseException) -> str | None:
    """Why the server's certificate failed verification, or None for other failures."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            return str(cur.verify_message or cur.reason or "verification failed")
        cur = cur.__cause__ or cur.__context__
    return "verification failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else None


def _health_reason(exc: httpx.HTTPError, timeout: httpx.Timeout) -> str:
    """`_transport_reason` without the leading 'is', for a status line."""
    return _transport_reason(exc, timeout).removeprefix("is ")


def _error_detail(response: httpx.Response) -> str:
    """': <detail>' from a FastAPI-style error body, or '' when there is nothing useful."""
    try:
        data = response.json()
    except ValueError:
        text = response.text
    else:
        text = data.get("detail", "") if isinstance(data, dict) else ""
        text = text if isinstance(text, str) else json.dumps(text)
    text = _one_line(text)
    return f": {text}" if text else ""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _DETAIL_CHARS else line[: _DETAIL_CHARS - 1] + "…"


def _redact_url(url: str) -> str:
    """The URL without user:password, for messages and logs."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    if not parsed.userinfo:
        return url
    return str(parsed.copy_with(username=None, password=None))
