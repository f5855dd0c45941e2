"""HttpInferenceClient against a real HTTP server speaking the ML service's contract."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest_gui.core.errors import ConfigError, InferenceError, ServiceUnavailableError
from ingest_gui.core.imaging import load_prepared
from ingest_gui.core.inference.base import ImageInput
from ingest_gui.core.inference.http import HttpInferenceClient
from tests.mlserver import MODEL_CLIP, FakeMLServer

# `ml_server` (a real HTTP server speaking the contract) comes from tests/conftest.py.

PHOTOS = Path(
    os.environ.get("INGEST_GUI_PHOTOS")
    or Path(__file__).resolve().parents[3] / "shared" / "data" / "photos"
)
TOKEN = "s3cret-token-for-tests-7f3a"
FAST = {"backoff_s": 0.01, "retries": 3}


def photo_paths(count: int) -> list[Path]:
    paths = sorted((PHOTOS / "jpg").glob("*.jpg"))
    if len(paths) < count:
        pytest.skip(f"need {count} photos under {PHOTOS / 'jpg'}")
    return paths[:count]


def prepared(paths: list[Path]) -> list[ImageInput]:
    return [ImageInput(p.stem, p.name, load_prepared(p)) for p in paths]


@pytest.fixture
def inputs() -> list[ImageInput]:
    return prepared(photo_paths(4))


@pytest.fixture
def client(ml_server: FakeMLServer) -> Iterator[HttpInferenceClient]:
    with HttpInferenceClient(ml_server.url, **FAST) as c:  # type: ignore[arg-type]
        yield c


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ------------------------------------------------------------------ happy paths


def test_batch_of_real_photos(
    client: HttpInferenceClient, ml_server: FakeMLServer, inputs: list[ImageInput]
) -> None:
    assert client.model_name == f"http:{MODEL_CLIP}"
    results = client.embed_images(inputs)

    assert [r.unique_id for r in results] == [p.unique_id for p in inputs]
    for item, result in zip(inputs, results, strict=True):
        assert result.error is None
        assert result.embedding is not None and len(result.embedding) == 512
        w, h = item.image.size
        assert result.caption == f"a photo of size {w}x{h}"
        assert result.model == f"http:{MODEL_CLIP}"
    assert len({tuple(r.embedding or []) for r in results}) == len(inputs)
    batch = ml_server.requests[-1]
    assert batch.caption is True and batch.count == len(inputs)


def test_caption_false_gives_no_caption(
    client: HttpInferenceClient, ml_server: FakeMLServer, inputs: list[ImageInput]
) -> None:
    results = client.embed_images(inputs[:2], caption=False)
    assert all(r.caption is None and r.embedding for r in results)
    assert ml_server.requests[-1].caption is False


def test_empty_batch_sends_nothing(client: HttpInferenceClient, ml_server: FakeMLServer) -> None:
    assert client.embed_images([]) == []
    assert ml_server.requests == []


def test_bad_item_errors_alone(
    client: HttpInferenceClient, ml_server: FakeMLServer, inputs: list[ImageInput]
) -> None:
    ml_server.bad_ids = {inputs[1].unique_id}
    results = client.embed_images(inputs)
    assert results[1].error and "injected" in results[1].error
    assert results[1].embedding is None
    assert all(r.error is None and r.embedding for i, r in enumerate(results) if i != 1)


def test_text_capabilities_and_health(client: HttpInferenceClient, ml_server: FakeMLServer) -> None:
    vector = client.embed_text("a dog on a beach")
    assert vector is not None and len(vector) == 512
    assert client.embed_text("a dog on a beach") == vector
    assert client.capabilities()["device_type"] == "cpu"
    assert client.health().ok
    assert asyncio.run(client.ahealth()).ok
    ml_server.health_ready = False
    assert client.health().detail == "not ready (503)"
    assert asyncio.run(client.ahealth()).detail == "not ready (503)"


def test_connect_is_idempotent_and_thread_safe(
    client: HttpInferenceClient, ml_server: FakeMLServer
) -> None:
    names: list[str] = []
    threads = [threading.Thread(target=lambda: names.append(client.model_name)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert names == [f"http:{MODEL_CLIP}"] * 8
    assert len(ml_server.calls_to("/health")) == 1
    assert len(ml_server.requests) == 1  # the probe


def test_concurrent_batches_share_one_client(
    client: HttpInferenceClient, ml_server: FakeMLServer, inputs: list[ImageInput]
) -> None:
    ml_server.delay_s = 0.2
    outcomes: list[int] = []

    def work(i: int) -> None:
        outcomes.append(len(client.embed_images([inputs[i]])))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == [1, 1, 1, 1]
    assert ml_server.max_concurrent >= 2


# ------------------------------------------------------------------ retries and failures


def test_503_twice_then_ok(
    client: HttpInferenceClient, ml_server: FakeMLServer, inputs: list[ImageInput]
) -> None:
    ml_server.fail_next_503 = 2
    results = client.embed_images(inputs[:2])
    assert all(r.embedding for r in results)
    statuses = [c.status for c in ml_server.calls_to("/api/v1/batch_embed_and_caption")]
    assert statuses == [503, 503, 200]


def test_503_forever_is_service_unavailable(
    client: HttpInferenceClient, ml_server: FakeMLServer, inputs: list[ImageInput]
) -> None:
    ml_server.fail_next_503 = 100
    with pytest.raises(ServiceUnavailableError, match="not ready"):
        client.embed_images(inputs[:1])
    assert len(ml_server.calls) == 1 + FAST["retries"]


def test_500_is_retried_at_most_twice(
    client: HttpInferenceClient, ml_server: FakeMLServer, inputs: list[ImageInput]
) -> None:
    ml_server.fail_next_500 = 10
    with pytest.raises(InferenceError, match="HTTP 500"):
        client.embed_images(inputs[:1])
    assert len(ml_server.calls) == 3


def test_4xx_is_not_retried(ml_server: FakeMLServer, inputs: list[ImageInput]) -> None:
    ml_server.require_api_key = "the-right-key"
    with (
        HttpInferenceClient(ml_server.url, api_key="a-wrong-key", **FAST) as c,  # type: ignore[arg-type]
        pytest.raises(InferenceError, match="HTTP 401"),
    ):
        c.embed_images(inputs[:1])
    assert len(ml_server.calls) == 1


def test_connect_waits_while_service_warms_up(ml_server: FakeMLServer) -> None:
    ml_server.health_ready = False
    timer = threading.Timer(0.3, setattr, args=(ml_server, "health_ready", True))
    timer.start()
    try:
        with HttpInferenceClient(ml_server.url, retries=10, backoff_s=0.05) as c:
            assert c.connect() == f"http:{MODEL_CLIP}"
    finally:
        timer.cancel()
    statuses = [c.status for c in ml_server.calls_to("/health")]
    assert statuses[0] == 503 and statuses[-1] == 200


def test_url_without_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="http://"):
        HttpInferenceClient("localhost:8001")


def test_health_after_close_does_not_raise(ml_server: FakeMLServer) -> None:
    c = HttpInferenceClient(ml_server.url)
    c.close()
    c.close()
    assert not c.health().ok


def test_closed_port_is_unreachable_quickly() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with HttpInferenceClient(url, **FAST) as c:  # type: ignore[arg-type]
        started = time.monotonic()
        with pytest.raises(ServiceUnavailableError, match="unreachable") as info:
            c.connect()
        assert time.monotonic() - started < 3
        assert url in str(info.value)
        status = c.health()
        assert not status.ok and "unreachable" in status.detail
        assert not asyncio.run(c.ahealth()).ok


def test_malformed_json_is_inference_error(
    client: HttpInferenceClient, ml_server: FakeMLServer, inputs: list[ImageInput]
) -> None:
    ml_server.malformed_json_next = 1
    with pytest.raises(InferenceError, match="malformed JSON"):
        client.embed_images(inputs[:2])


def test_wrong_vector_size_is_refused_on_connect(
    client: HttpInferenceClient, ml_server: FakeMLServer
) -> None:
    ml_server.vector_size = 384
    with pytest.raises(InferenceError, match="384") as info:
        client.connect()
    assert "512" in str(info.value)


def test_wrong_vector_size_fails_each_item(
    client: HttpInferenceClient, ml_server: FakeMLServer, inputs: list[ImageInput]
) -> None:
    ml_server.vector_size = 768
    results = client.embed_images(inputs[:2])
    for result in results:
        assert result.embedding is None
        assert result.error and "768" in result.error and "512" in result.error


def test_slow_service_times_out_clearly(ml_server: FakeMLServer, inputs: list[ImageInput]) -> None:
    ml_server.delay_s = 1.0
    with HttpInferenceClient(ml_server.url, timeout_s=0.3, retries=1, backoff_s=0.01) as c:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailableError, match=r"did not answer within 0\.3 s"):
            c.embed_images(inputs[:1])
        assert time.monotonic() - started < 1.5
    assert len(ml_server.requests) == 2  # one retry


def test_results_are_matched_by_unique_id(inputs: list[ImageInput]) -> None:
    def reversed_results(request: httpx.Request) -> httpx.Response:
        images = json.loads(request.content)["images"]
        results = [
            {
                "unique_id": im["unique_id"],
                "embedding": [float(i)] * 512,
                "caption": im["filename"],
                "error": None,
                "model_name_clip": "m",
            }
            for i, im in enumerate(images)
        ]
        return httpx.Response(200, json={"results": results[::-1]})

    with HttpInferenceClient("http://ml", transport=httpx.MockTransport(reversed_results)) as c:
        results = c.embed_images(inputs[:3])
    assert [r.caption for r in results] == [p.filename for p in inputs[:3]]
    assert [r.embedding[0] for r in results if r.embedding] == [0.0, 1.0, 2.0]


def test_wrong_number_of_results_is_inference_error(inputs: list[ImageInput]) -> None:
    def one_result(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": [{"unique_id": "x", "embedding": None}]})

    with (
        HttpInferenceClient("http://ml", transport=httpx.MockTransport(one_result)) as c,
        pytest.raises(InferenceError, match="1 results for 3 images"),
    ):
        c.embed_images(inputs[:3])


# ------------------------------------------------------------------ wire format and secrets


def test_payload_per_image_is_small(client: HttpInferenceClient, ml_server: FakeMLServer) -> None:
    big = PHOTOS / "jpg" / "Reconyx_HC500_Hyperfire.jpg"
    paths = [*photo_paths(3), *([big] if big.exists() else [])]
    client.embed_images(prepared(paths))
    sizes = ml_server.requests[-1].image_bytes
    assert len(sizes) == len(paths)
    assert all(0 < size < 50_000 for size in sizes), sizes


def test_bearer_token_is_sent_and_never_logged(
    ml_server: FakeMLServer, inputs: list[ImageInput], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ml_server.require_api_key = TOKEN
    ml_server.fail_next_503 = 1
    with HttpInferenceClient(ml_server.url, api_key=TOKEN, **FAST) as c:  # type: ignore[arg-type]
        c.connect()
        c.embed_images(inputs[:1])
        assert c.health().ok
        assert asyncio.run(c.ahealth()).ok
        assert TOKEN not in repr(c)
    assert all(call.headers.get("Authorization") == f"Bearer {TOKEN}" for call in ml_server.calls)
    assert any("retrying" in r.getMessage() for r in caplog.records)  # logging did happen
    assert TOKEN not in caplog.text


def test_server_gives_undecodable_image_its_own_error(ml_server: FakeMLServer) -> None:
    body = {"images": [{"unique_id": "x", "image_base64": "bm90IGFuIGltYWdl", "filename": "x.jpg"}]}
    answer = httpx.post(f"{ml_server.url}/api/v1/batch_embed_and_caption", json=body).json()
    assert answer["results"][0]["error"]
    assert answer["results"][0]["embedding"] is None
