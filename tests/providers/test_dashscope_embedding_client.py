"""The DashScope multimodal-embedding-v1 client against the emulator, over a real socket.

The limits under test are api-docs 003's: one input a call, images of at most
3 MB (downscaled first), JPG/PNG/BMP, text of at most 512 tokens.
"""

from __future__ import annotations

import base64
import io
import time

import httpx
import pytest
from PIL import Image

from tests.providers.embedding_helpers import encoded, noise_jpeg, plain_jpeg
from webapp.emulator import EmulatorHandle
from webapp.emulator.core import RecordedRequest
from webapp.providers.dashscope_embedding import (
    MAX_IMAGE_BYTES,
    PATH,
    DashScopeEmbeddingClient,
)
from webapp.providers.embeddings import fit_image
from webapp.providers.errors import ProviderError

SECRET = "sk-test-0123456789abcdef"
API = "dashscope_embedding"
RED, BLUE = (220, 30, 30), (30, 60, 220)
# (code, status, transient) as DashScope's status codes list them
DOCUMENTED = [
    ("InvalidApiKey", 401, False),
    ("AccessDenied", 403, False),
    ("Arrearage", 400, False),
    ("DataInspectionFailed", 400, False),
    ("Throttling.RateQuota", 429, True),
    ("Throttling.AllocationQuota", 429, True),
    ("InternalError", 500, True),
    ("RequestTimeOut", 408, True),
]


def make_client(
    emulator: EmulatorHandle, *, key: str = "test-key", **kwargs: object
) -> DashScopeEmbeddingClient:
    return DashScopeEmbeddingClient(
        base_url=emulator.url,
        api_key=key,
        sleep=lambda seconds: None,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def client(emulator: EmulatorHandle) -> DashScopeEmbeddingClient:
    return make_client(emulator)


def calls(emulator: EmulatorHandle) -> list[RecordedRequest]:
    return [r for r in emulator.requests if r.path == PATH]


def sent_image(request: RecordedRequest) -> bytes:
    url = request.json["input"]["contents"][0]["image"]
    return base64.b64decode(url.partition(",")[2])


def error_of(client: DashScopeEmbeddingClient) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        client.embed_texts(["red"])
    return caught.value


# --- the request ------------------------------------------------------------------------


def test_it_posts_the_documented_body_with_a_bearer_key(
    emulator: EmulatorHandle, client: DashScopeEmbeddingClient
) -> None:
    client.embed_texts(["一只红色的猫"])

    [sent] = calls(emulator)
    assert sent.path == "/api/v1/services/embeddings/multimodal-embedding/multimodal-embedding"
    assert sent.header("Authorization") == "Bearer test-key"
    assert sent.header("Content-Type") == "application/json"
    assert sent.json == {
        "model": "multimodal-embedding-v1",
        "input": {"contents": [{"text": "一只红色的猫"}]},
    }


def test_one_input_per_call(emulator: EmulatorHandle, client: DashScopeEmbeddingClient) -> None:
    pictures = [plain_jpeg(RED), plain_jpeg(BLUE), plain_jpeg((30, 170, 50))]

    vectors = client.embed_images(pictures)

    sent = calls(emulator)
    assert len(sent) == 3
    assert all(len(r.json["input"]["contents"]) == 1 for r in sent)
    assert [sent_image(r) for r in sent] == pictures  # small JPEGs go as they are
    assert [len(v) for v in vectors] == [1024, 1024, 1024]


def test_png_and_bmp_are_sent_as_they_are(
    emulator: EmulatorHandle, client: DashScopeEmbeddingClient
) -> None:
    png, bmp = encoded(plain_jpeg(RED), "PNG"), encoded(plain_jpeg(RED), "BMP")

    client.embed_images([png, bmp])

    prefixes = [r.json["input"]["contents"][0]["image"].partition(",")[0] for r in calls(emulator)]
    assert prefixes == ["data:image/png;base64", "data:image/bmp;base64"]
    assert [sent_image(r) for r in calls(emulator)] == [png, bmp]


def test_a_webp_image_is_re_encoded_as_jpeg(
    emulator: EmulatorHandle, client: DashScopeEmbeddingClient
) -> None:
    client.embed_images([encoded(plain_jpeg(RED), "WEBP")])

    assert (
        calls(emulator)[0]
        .json["input"]["contents"][0]["image"]
        .startswith("data:image/jpeg;base64,")
    )


def test_an_image_over_3_mb_is_downscaled_before_it_is_sent(
    emulator: EmulatorHandle, client: DashScopeEmbeddingClient
) -> None:
    big = noise_jpeg(1000, 1000)  # ~4 MB
    assert len(big) > MAX_IMAGE_BYTES

    [vector] = client.embed_images([big])

    [sent] = calls(emulator)  # the emulator refuses images over 3 MB, so one call means it fit
    assert int(sent.header("Content-Length")) < MAX_IMAGE_BYTES * 4 / 3 + 200
    assert len(vector) == 1024


def test_fitting_keeps_the_picture_and_lands_under_the_limit() -> None:
    big = noise_jpeg(1000, 1000)

    small = fit_image(big, MAX_IMAGE_BYTES, service="DashScope", formats=("jpeg",))

    assert len(small) <= MAX_IMAGE_BYTES
    with Image.open(io.BytesIO(small)) as image:
        assert image.format == "JPEG"
        assert image.width == image.height  # the shape is kept
        assert image.width < 1000


def test_an_unreadable_image_is_refused_before_any_call(
    emulator: EmulatorHandle, client: DashScopeEmbeddingClient
) -> None:
    with pytest.raises(ProviderError) as caught:
        client.embed_images([b"GIF89a not really"])

    assert caught.value.code == "InvalidImage"
    assert "could not be sent to DashScope" in caught.value.message
    assert calls(emulator) == []


def test_a_long_text_is_cut_to_512_characters(
    emulator: EmulatorHandle, client: DashScopeEmbeddingClient
) -> None:
    client.embed_texts(["猫" * 2000])

    assert calls(emulator)[0].json["input"]["contents"][0]["text"] == "猫" * 512


# --- the answer ---------------------------------------------------------------------------


def test_vectors_are_deterministic_and_the_space_is_cross_modal(
    client: DashScopeEmbeddingClient,
) -> None:
    red, blue = client.embed_images([plain_jpeg(RED), plain_jpeg(BLUE)])
    [text_red] = client.embed_texts(["red"])

    assert client.embed_images([plain_jpeg(RED)]) == [red]
    assert sum(a * b for a, b in zip(text_red, red, strict=True)) > 0.9
    assert sum(a * b for a, b in zip(text_red, blue, strict=True)) < 0.3


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "status", "transient"), DOCUMENTED)
def test_each_documented_error_becomes_a_provider_error_with_a_sentence(
    emulator: EmulatorHandle,
    client: DashScopeEmbeddingClient,
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
    assert error.message.endswith(".") and "DashScope" in error.message
    assert len(calls(emulator)) == (3 if transient else 1)


def test_a_refused_key_names_the_setting(
    emulator: EmulatorHandle, client: DashScopeEmbeddingClient
) -> None:
    emulator.set_fault("InvalidApiKey", api=API)

    error = error_of(client)

    assert "DASHSCOPE_EMBEDDING_API_KEY" in error.message
    assert "China (Beijing)" in error.message


def test_no_key_at_all_is_refused_by_the_emulator(emulator: EmulatorHandle) -> None:
    response = httpx.post(emulator.url + PATH, json={"model": "multimodal-embedding-v1"})

    assert response.status_code == 401
    assert response.json()["code"] == "InvalidApiKey"


@pytest.mark.parametrize(("fault", "code"), [("http_503", "HTTP.503"), ("disconnect", "Network")])
def test_transient_failures_are_tried_three_times(
    emulator: EmulatorHandle, client: DashScopeEmbeddingClient, fault: str, code: str
) -> None:
    emulator.set_fault(fault, api=API)

    error = error_of(client)

    assert error.code == code
    assert error.transient is True
    assert len(calls(emulator)) == 3


def test_two_failures_then_success_succeeds(
    emulator: EmulatorHandle, client: DashScopeEmbeddingClient
) -> None:
    emulator.set_fault("Throttling.RateQuota", 2, api=API)

    assert len(client.embed_texts(["red"])) == 1
    assert len(calls(emulator)) == 3


@pytest.mark.parametrize("fault", ["malformed_json", "wrong_shape", "wrong_dims"])
def test_an_unreadable_answer_is_a_bad_response_tried_once(
    emulator: EmulatorHandle, client: DashScopeEmbeddingClient, fault: str
) -> None:
    emulator.set_fault(fault, api=API)

    error = error_of(client)

    assert error.code == "BadResponse"
    assert error.message == "DashScope sent an answer Loupe could not read; try again later."
    assert len(calls(emulator)) == 1


def test_a_slow_answer_hits_the_overall_deadline(emulator: EmulatorHandle) -> None:
    client = make_client(emulator, timeout=0.5)
    emulator.set_fault("slow", api=API, delay=3)

    started = time.monotonic()
    error = error_of(client)

    assert time.monotonic() - started < 2.5
    assert error.code == "Timeout"
    assert "did not answer in time" in error.message


def test_the_key_is_not_in_an_echoed_error_or_the_client(emulator: EmulatorHandle) -> None:
    client = make_client(emulator, key=SECRET)
    emulator.set_fault("echo_key", api=API)

    error = error_of(client)

    for text in (str(error), repr(error), error.message, error.provider_message, repr(client)):
        assert SECRET not in text
    assert error.provider_message == "Invalid API-key provided: [redacted]"


# --- the emulator's side of the wire -------------------------------------------------------


def post(emulator: EmulatorHandle, body: object) -> httpx.Response:
    return httpx.post(emulator.url + PATH, json=body, headers={"Authorization": "Bearer x"})


def image_body(data: bytes, kind: str = "jpeg") -> dict[str, object]:
    url = f"data:image/{kind};base64," + base64.b64encode(data).decode()
    return {"model": "multimodal-embedding-v1", "input": {"contents": [{"image": url}]}}


def test_the_emulator_answers_in_the_documented_shape(emulator: EmulatorHandle) -> None:
    answer = post(emulator, image_body(plain_jpeg(RED))).json()

    assert set(answer) == {"output", "usage", "request_id"}
    [entry] = answer["output"]["embeddings"]
    assert entry["index"] == 0 and entry["type"] == "image" and len(entry["embedding"]) == 1024


def test_the_emulator_refuses_an_image_over_3_mb(emulator: EmulatorHandle) -> None:
    response = post(emulator, image_body(noise_jpeg(1000, 1000)))

    assert response.status_code == 400
    assert response.json()["code"] == "InvalidParameter"
    assert "3 MB" in response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"model": "multimodal-embedding-v1", "input": {"contents": [{"text": "a"}, {"text": "b"}]}},
        {"model": "multimodal-embedding-v9", "input": {"contents": [{"text": "a"}]}},
        {"input": {"contents": [{"text": "a"}]}},
        {"model": "multimodal-embedding-v1", "input": {"contents": []}},
        {"model": "multimodal-embedding-v1", "input": {"contents": [{"text": "x " * 600}]}},
    ],
)
def test_the_emulator_refuses_what_the_document_does_not_allow(
    emulator: EmulatorHandle, body: object
) -> None:
    response = post(emulator, body)

    assert response.status_code == 400
    assert response.json()["code"] == "InvalidParameter"


def test_the_emulator_refuses_a_webp_image(emulator: EmulatorHandle) -> None:
    response = post(emulator, image_body(encoded(plain_jpeg(RED), "WEBP"), "webp"))

    assert response.status_code == 400
    assert "JPG, PNG or BMP" in response.json()["message"]
