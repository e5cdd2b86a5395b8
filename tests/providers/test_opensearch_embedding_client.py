"""The OpenSearch multi-modal embedding client against the emulator, over a real socket.

The limits under test are api-docs 002's: at most 32 inputs and 8 MB a request,
10 QPS per account. The last section checks the emulator's side of the wire.
"""

from __future__ import annotations

import base64
import json
import math
import time

import httpx
import numpy as np
import pytest

from tests.providers.embedding_helpers import FakeClock, encoded, noise_jpeg, plain_jpeg
from webapp.emulator import EmulatorHandle
from webapp.emulator.core import RecordedRequest
from webapp.providers.embeddings import RateLimiter
from webapp.providers.errors import ProviderError
from webapp.providers.opensearch_embedding import (
    MAX_BODY_BYTES,
    OpenSearchEmbeddingClient,
    pack_requests,
)

SECRET = "OS-test-0123456789abcdef"
API = "opensearch_embedding"
RED, BLUE = (220, 30, 30), (30, 60, 220)
PATH = "/v3/openapi/workspaces/default/multi-modal-embedding/ops-m2-encoder"
# (code, status, transient) as the platform's status codes list them
DOCUMENTED = [
    ("InvalidParameter", 400, False),
    ("ServiceIdNotExist", 400, False),
    ("Throttling", 429, True),
    ("Throttling.RateQuota", 429, True),
    ("Throttling.AllocationQuota", 429, True),
    ("InternalServerError", 500, True),
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(
    emulator: EmulatorHandle,
    clock: FakeClock,
    *,
    model: str = "ops-m2-encoder",
    key: str = "test-key",
    **kwargs: object,
) -> OpenSearchEmbeddingClient:
    limiter = RateLimiter(10, clock=clock.time, sleep=clock.sleep)
    return OpenSearchEmbeddingClient(
        host=emulator.url,
        api_key=key,
        model=model,
        limiter=limiter,
        sleep=lambda seconds: None,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def client(emulator: EmulatorHandle, clock: FakeClock) -> OpenSearchEmbeddingClient:
    return make_client(emulator, clock)


def calls(emulator: EmulatorHandle) -> list[RecordedRequest]:
    return [r for r in emulator.requests if "/multi-modal-embedding/" in r.path]


def error_of(client: OpenSearchEmbeddingClient) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        client.embed_texts(["red"])
    return caught.value


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


# --- the request ------------------------------------------------------------------------


def test_an_image_goes_as_a_base64_data_url_with_a_bearer_key(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    picture = plain_jpeg(RED)

    client.embed_images([picture])

    [sent] = calls(emulator)
    assert sent.method == "POST"
    assert sent.path == PATH
    assert sent.header("Authorization") == "Bearer test-key"
    assert sent.header("Content-Type") == "application/json"
    [entry] = sent.json["input"]
    assert set(entry) == {"image"}
    prefix, _, data = entry["image"].partition(",")
    assert prefix == "data:image/jpeg;base64"
    assert base64.b64decode(data) == picture  # small enough: sent as it is


def test_texts_go_as_text_entries_in_one_request(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    client.embed_texts(["a red car", "一只猫"])

    [sent] = calls(emulator)
    assert sent.json == {"input": [{"text": "a red car"}, {"text": "一只猫"}]}


def test_the_workspace_and_model_make_the_path(emulator: EmulatorHandle, clock: FakeClock) -> None:
    client = make_client(emulator, clock, model="ops-gme-qwen2-vl-2b-instruct", workspace="w1")

    [vector] = client.embed_texts(["red"])

    assert calls(emulator)[0].path == (
        "/v3/openapi/workspaces/w1/multi-modal-embedding/ops-gme-qwen2-vl-2b-instruct"
    )
    assert len(vector) == 1536


def test_a_webp_image_is_re_encoded_as_jpeg(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    client.embed_images([encoded(plain_jpeg(RED), "WEBP")])

    assert calls(emulator)[0].json["input"][0]["image"].startswith("data:image/jpeg;base64,")


def test_a_png_image_is_sent_as_png(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    picture = encoded(plain_jpeg(RED), "PNG")

    client.embed_images([picture])

    entry = calls(emulator)[0].json["input"][0]["image"]
    assert entry == "data:image/png;base64," + base64.b64encode(picture).decode()


def test_blank_texts_are_refused_before_any_call(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    with pytest.raises(ValueError, match="blank"):
        client.embed_texts(["cat", "  "])

    assert calls(emulator) == []


def test_nothing_to_embed_makes_no_call(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    assert client.embed_images([]) == []
    assert calls(emulator) == []


def test_an_unknown_model_is_refused_when_the_client_is_made(emulator: EmulatorHandle) -> None:
    with pytest.raises(ValueError, match="unknown OpenSearch embedding model"):
        OpenSearchEmbeddingClient(host=emulator.url, api_key="k", model="ops-text-embedding-001")


# --- the answer ---------------------------------------------------------------------------


def test_vectors_are_unit_length_of_the_models_size_and_in_input_order(
    client: OpenSearchEmbeddingClient,
) -> None:
    red, blue = plain_jpeg(RED), plain_jpeg(BLUE)

    forward = client.embed_images([red, blue])
    backward = client.embed_images([blue, red])

    assert [len(v) for v in forward] == [768, 768]
    assert all(math.isclose(float(np.linalg.norm(v)), 1.0, abs_tol=1e-5) for v in forward)
    assert forward == backward[::-1]
    assert cosine(forward[0], forward[1]) < 0.5


def test_the_emulated_space_is_cross_modal_and_near_copies_are_near(
    client: OpenSearchEmbeddingClient,
) -> None:
    red, near_red, blue = plain_jpeg(RED), plain_jpeg((205, 45, 35), (90, 60)), plain_jpeg(BLUE)
    images = client.embed_images([red, near_red, blue])
    [text_red] = client.embed_texts(["red"])

    assert cosine(images[0], images[1]) > 0.98
    assert cosine(text_red, images[0]) > cosine(text_red, images[2]) + 0.5


def test_ops_m2_encoder_large_gives_1024_values(emulator: EmulatorHandle, clock: FakeClock) -> None:
    client = make_client(emulator, clock, model="ops-m2-encoder-large")

    assert len(client.embed_texts(["cat"])[0]) == 1024


# --- limits: 32 inputs, 8 MB, 10 QPS ---------------------------------------------------------


def test_70_inputs_go_in_requests_of_32_32_and_6(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    texts = [f"word{n}" for n in range(70)]

    vectors = client.embed_texts(texts)

    assert [len(r.json["input"]) for r in calls(emulator)] == [32, 32, 6]
    assert len(vectors) == 70
    assert vectors[69] == client.embed_texts(["word69"])[0]  # order kept across requests


def test_images_over_8_mb_together_are_split_into_requests_under_it(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    pictures = [noise_jpeg(800, 800, seed=n) for n in range(3)]  # ~2.6 MB, 3.5 MB as base64
    assert sum(len(p) for p in pictures) * 4 / 3 > MAX_BODY_BYTES

    vectors = client.embed_images(pictures)

    sent = calls(emulator)
    assert len(sent) == 2
    assert all(int(r.header("Content-Length")) <= MAX_BODY_BYTES for r in sent)
    assert len(vectors) == 3


def test_one_image_too_large_for_a_request_is_downscaled_first(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    huge = noise_jpeg(1500, 1500)  # ~9 MB; 12 MB as base64
    assert len(huge) * 4 / 3 > MAX_BODY_BYTES

    [vector] = client.embed_images([huge])

    [sent] = calls(emulator)
    assert int(sent.header("Content-Length")) <= MAX_BODY_BYTES
    assert len(vector) == 768


def test_packing_fills_each_request_up_to_8_mb_in_order() -> None:
    inputs = [{"text": str(n) * 3_000_000} for n in range(5)]  # ~3 MB of JSON each

    batches = pack_requests(inputs)

    assert [len(b) for b in batches] == [2, 2, 1]
    assert [entry for batch in batches for entry in batch] == inputs
    for batch in batches:
        assert len(json.dumps({"input": batch}).encode()) <= MAX_BODY_BYTES


def test_packing_refuses_one_input_over_8_mb() -> None:
    with pytest.raises(ProviderError) as caught:
        pack_requests([{"text": "x" * MAX_BODY_BYTES}])

    assert caught.value.code == "InvalidInput"


def test_requests_start_at_most_10_in_any_second(
    emulator: EmulatorHandle, clock: FakeClock
) -> None:
    starts: list[float] = []

    class Recording(RateLimiter):
        def acquire(self) -> float:
            waited = super().acquire()
            starts.append(clock.now)
            return waited

    limiter = Recording(10, clock=clock.time, sleep=clock.sleep)
    client = OpenSearchEmbeddingClient(host=emulator.url, api_key="k", limiter=limiter)

    for n in range(25):
        client.embed_texts([f"query {n}"])

    assert len(calls(emulator)) == 25
    assert max(sum(1 for s in starts if start <= s < start + 1.0) for start in starts) == 10
    assert starts[-1] - starts[0] >= 2.0  # 25 requests at 10 a second need two full seconds
    assert clock.sleeps  # it waited on the (fake) clock, not on the real one


def test_the_limiter_lets_a_burst_through_then_paces() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock.time, sleep=clock.sleep)
    started = clock.now

    times = []
    for _ in range(7):
        limiter.acquire()
        times.append(round(clock.now - started, 6))

    assert times == [0, 0, 0, 1, 1, 1, 2]


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "status", "transient"), DOCUMENTED)
def test_each_documented_error_becomes_a_provider_error_with_a_sentence(
    emulator: EmulatorHandle,
    client: OpenSearchEmbeddingClient,
    code: str,
    status: int,
    transient: bool,
) -> None:
    emulator.set_fault(code, api=API)

    error = error_of(client)

    assert error.code == code
    assert error.status == status
    assert error.transient is transient
    assert error.request_id
    assert error.message.startswith("OpenSearch") and error.message.endswith(".")
    assert len(calls(emulator)) == (3 if transient else 1)


def test_a_refused_key_names_the_setting_and_is_tried_once(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    emulator.set_fault("http_401", api=API)

    error = error_of(client)

    assert error.status == 401
    assert error.transient is False
    assert "OPENSEARCH_EMBEDDING_API_KEY" in error.message
    assert len(calls(emulator)) == 1


def test_a_gateway_page_is_a_transient_http_503(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    emulator.set_fault("http_503", api=API)

    error = error_of(client)

    assert error.code == "HTTP.503"
    assert error.transient is True
    assert "temporary problem" in error.message
    assert len(calls(emulator)) == 3


def test_one_throttle_then_success_succeeds(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    emulator.set_fault("Throttling.RateQuota", 1, api=API)

    assert len(client.embed_texts(["red"])) == 1
    assert len(calls(emulator)) == 2


def test_throttling_backs_off_with_growing_jittered_waits(emulator: EmulatorHandle) -> None:
    waits: list[float] = []
    client = OpenSearchEmbeddingClient(host=emulator.url, api_key="k", sleep=waits.append)
    emulator.set_fault("Throttling", api=API)

    error_of(client)

    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 0.75


@pytest.mark.parametrize("fault", ["malformed_json", "wrong_shape", "wrong_count", "wrong_dims"])
def test_an_unreadable_answer_is_a_bad_response_tried_once(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient, fault: str
) -> None:
    emulator.set_fault(fault, api=API)

    error = error_of(client)

    assert error.code == "BadResponse"
    assert error.transient is False
    assert error.message == "OpenSearch sent an answer Loupe could not read; try again later."
    assert len(calls(emulator)) == 1


def test_a_dropped_connection_is_a_network_error_and_is_retried(
    emulator: EmulatorHandle, client: OpenSearchEmbeddingClient
) -> None:
    emulator.set_fault("disconnect", api=API)

    error = error_of(client)

    assert error.code == "Network"
    assert "could not reach OpenSearch" in error.message
    assert len(calls(emulator)) == 3


def test_a_slow_answer_hits_the_overall_deadline(
    emulator: EmulatorHandle, clock: FakeClock
) -> None:
    client = make_client(emulator, clock, timeout=0.5)
    emulator.set_fault("slow", api=API, delay=3)

    started = time.monotonic()
    error = error_of(client)

    assert time.monotonic() - started < 2.5
    assert error.code == "Timeout"
    assert len(calls(emulator)) == 1


# --- the key stays secret ----------------------------------------------------------------------


def test_the_key_is_not_in_an_echoed_error_or_the_client(
    emulator: EmulatorHandle, clock: FakeClock
) -> None:
    client = make_client(emulator, clock, key=SECRET)
    emulator.set_fault("echo_key", api=API)

    error = error_of(client)

    for text in (str(error), repr(error), error.message, error.provider_message, repr(client)):
        assert SECRET not in text
    assert error.provider_message == "Invalid api key: [redacted]"
    assert calls(emulator)[0].header("Authorization") == f"Bearer {SECRET}"


# --- the emulator's side of the wire ------------------------------------------------------------


def post(
    emulator: EmulatorHandle, body: object, path: str = PATH, auth: str = "Bearer x"
) -> httpx.Response:
    return httpx.post(f"{emulator.url}{path}", json=body, headers={"Authorization": auth})


def test_the_emulator_answers_in_the_documented_shape(emulator: EmulatorHandle) -> None:
    answer = post(emulator, {"input": [{"text": "red"}]}).json()

    assert set(answer) == {"request_id", "latency", "usage", "result"}
    assert set(answer["usage"]) == {"image", "token_count"}
    assert answer["result"]["embeddings"][0]["index"] == 0


def test_the_emulator_wants_a_bearer_key(emulator: EmulatorHandle) -> None:
    response = post(emulator, {"input": [{"text": "red"}]}, auth="Basic abc")

    assert response.status_code == 401
    assert response.json()["latency"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"input": [{"text": "x"}] * 33},
        {"input": []},
        {"input": [{}]},
        {"input": [{"image": "not a url"}]},
        {"input": [{"image": "data:image/jpeg;base64,AAAA"}]},
        ["red"],
    ],
)
def test_the_emulator_refuses_what_the_document_does_not_allow(
    emulator: EmulatorHandle, body: object
) -> None:
    response = post(emulator, body)

    assert response.status_code == 400
    assert response.json()["code"] == "InvalidParameter"


def test_the_emulator_refuses_a_body_over_8_mb(emulator: EmulatorHandle) -> None:
    response = post(emulator, {"input": [{"text": "x" * (8 * 1024 * 1024 + 1)}]})

    assert response.status_code == 400
    assert "8 MB" in response.json()["message"]


def test_the_emulator_refuses_an_unknown_service_id(emulator: EmulatorHandle) -> None:
    path = "/v3/openapi/workspaces/default/multi-modal-embedding/ops-nothing"

    response = post(emulator, {"input": [{"text": "red"}]}, path=path)

    assert response.json()["code"] == "ServiceIdNotExist"


def test_m2_ignores_the_image_beside_a_text_and_gme_combines_them(
    emulator: EmulatorHandle,
) -> None:
    image = "data:image/jpeg;base64," + base64.b64encode(plain_jpeg(BLUE)).decode()
    gme = "/v3/openapi/workspaces/default/multi-modal-embedding/ops-gme-qwen2-vl-2b-instruct"

    def vector(body: object, path: str = PATH) -> list[float]:
        return post(emulator, body, path=path).json()["result"]["embeddings"][0]["embedding"]

    both = {"input": [{"text": "red", "image": image}]}
    assert vector(both) == vector({"input": [{"text": "red"}]})
    assert vector(both, gme) != vector({"input": [{"text": "red"}]}, gme)


def test_the_emulator_throttles_past_its_qps_when_asked(emulator: EmulatorHandle) -> None:
    emulator.set_fault("qps_limit", api=API, n=3)

    statuses = [post(emulator, {"input": [{"text": "red"}]}).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
