"""The emulated Responses API on the wire, with plain httpx: events, shapes, faults, limits."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from webapp.emulator import EmulatorHandle

PATH = "/compatible-mode/v1/responses"
IMAGE = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n fake").decode()


@pytest.fixture(autouse=True)
def instant(emulator: EmulatorHandle) -> None:
    emulator.set_pacing(0)


def body(text: str = "", *, stream: bool = True, image_url: str = IMAGE) -> dict[str, Any]:
    content: list[dict[str, str]] = []
    if text:
        content.append({"type": "input_text", "text": text})
    content.append({"type": "input_image", "image_url": image_url})
    return {
        "model": "qwen3.7-plus",
        "input": [{"role": "user", "content": content}],
        "tools": [{"type": "image_search"}],
        "stream": stream,
    }


def post(
    emulator: EmulatorHandle, payload: object, *, path: str = PATH, auth: str | None = "Bearer x"
) -> httpx.Response:
    headers = {"Authorization": auth} if auth is not None else {}
    return httpx.post(f"{emulator.url}{path}", json=payload, headers=headers, timeout=10)


def frames(response: httpx.Response) -> list[tuple[str, str]]:
    """(event field, data line) of each server-sent event, as raw text."""
    found = []
    for block in response.text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        found.append((lines["event"], lines["data"]))
    return found


def events(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(data) for _, data in frames(response)]


def listing(event: dict[str, Any]) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = json.loads(event["item"]["output"])
    return output


def search_done(all_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e
        for e in all_events
        if e["type"] == "response.output_item.done" and e["item"]["type"] == "image_search_call"
    ]


# --- the streamed answer --------------------------------------------------------------------------


def test_it_streams_server_sent_events_in_chunks(emulator: EmulatorHandle) -> None:
    response = post(emulator, body("find landscapes"))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert len(response.headers["x-request-id"]) == 36
    for name, data in frames(response):
        assert json.loads(data)["type"] == name


def test_the_events_follow_the_documents_order(emulator: EmulatorHandle) -> None:
    all_events = events(post(emulator, body("find landscapes")))

    kinds = [e["type"] for e in all_events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    assert [e["sequence_number"] for e in all_events] == list(range(len(all_events)))
    assert all_events[2]["item"]["type"] == "image_search_call"
    first_delta = kinds.index("response.output_text.delta")
    assert kinds.index("response.output_item.done") < first_delta  # images before the text
    assert kinds.count("response.output_text.delta") > 5


def test_the_search_output_is_a_json_string_of_index_title_url(emulator: EmulatorHandle) -> None:
    [done] = search_done(events(post(emulator, body())))

    assert done["item"]["status"] == "completed"
    assert isinstance(done["item"]["output"], str)
    images = listing(done)
    assert 10 <= len(images) <= 20
    assert [image["index"] for image in images] == list(range(1, len(images) + 1))
    assert {tuple(sorted(image)) for image in images} == {("index", "title", "url")}
    assert all(image["url"].startswith(f"{emulator.url}/images/") for image in images)


def test_the_pictures_are_served_at_the_sizes_in_their_urls(emulator: EmulatorHandle) -> None:
    [done] = search_done(events(post(emulator, body())))

    sizes = set()
    for image in listing(done)[:4]:
        picture = httpx.get(image["url"])
        query = httpx.URL(image["url"]).params
        assert picture.status_code == 200
        assert picture.headers["Content-Type"] == "image/jpeg"
        sizes.add((query["w"], query["h"]))
    assert len(sizes) > 1  # varied sizes, for the gallery's layout


def test_completed_carries_usage_x_tools_and_the_whole_output(emulator: EmulatorHandle) -> None:
    all_events = events(post(emulator, body("find landscapes")))

    response = all_events[-1]["response"]
    usage = response["usage"]
    assert response["status"] == "completed"
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["x_tools"] == {"image_search": {"count": 1}}
    assert [item["type"] for item in response["output"]] == ["image_search_call", "message"]
    deltas = "".join(e["delta"] for e in all_events if e["type"] == "response.output_text.delta")
    assert response["output"][1]["content"][0]["text"] == deltas
    assert "find landscapes" in deltas


def test_the_answer_is_deterministic_per_image_and_text(emulator: EmulatorHandle) -> None:
    def titles_and_urls(payload: dict[str, Any]) -> list[tuple[str, str]]:
        [done] = search_done(events(post(emulator, payload)))
        return [(image["title"], image["url"]) for image in listing(done)]

    first = titles_and_urls(body("a"))

    assert titles_and_urls(body("a")) == first
    assert titles_and_urls(body("b")) != first


@pytest.mark.parametrize("path", [PATH, "/api/v2/apps/protocols/compatible-mode/v1/responses"])
def test_both_documented_endpoints_answer(emulator: EmulatorHandle, path: str) -> None:
    assert post(emulator, body(), path=path).status_code == 200


def test_without_stream_it_answers_one_response_object(emulator: EmulatorHandle) -> None:
    response = post(emulator, body("find landscapes", stream=False))

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    answer = response.json()
    assert answer["object"] == "response"
    assert answer["status"] == "completed"
    assert [item["type"] for item in answer["output"]] == ["image_search_call", "message"]
    assert answer["usage"]["x_tools"] == {"image_search": {"count": 1}}


def test_an_https_image_url_is_accepted(emulator: EmulatorHandle) -> None:
    url = "https://img.alicdn.com/imgextra/i4/O1CN01YbrnSS1qtmsAkw0Ud_!!6000000005554-2-tps-788-450.png"

    assert post(emulator, body(image_url=url)).status_code == 200


def test_a_request_without_the_tool_gets_no_search(emulator: EmulatorHandle) -> None:
    payload = body()
    del payload["tools"]

    all_events = events(post(emulator, payload))

    assert search_done(all_events) == []
    assert "x_tools" not in all_events[-1]["response"]["usage"]


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", [None, "Bearer", "Basic abc"])
def test_it_wants_a_bearer_key(emulator: EmulatorHandle, auth: str | None) -> None:
    response = post(emulator, body(), auth=auth)

    assert response.status_code == 401
    error = response.json()
    assert error["error"]["code"] == "invalid_api_key"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["request_id"]


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ("not an object", "must be a JSON object"),
        ({**body(), "model": ""}, "'model'"),
        ({**body(), "input": "just text"}, "needs an image"),
        (body(image_url="ftp://example.com/a.png"), "http(s) URL"),
        (body(image_url="data:image/png;base64,@@@"), "data:image/<type>;base64"),
        (body(image_url="data:image/png;base64,abc"), "valid base64"),
        ({**body(), "stream": "yes"}, "'stream' must be a boolean"),
    ],
)
def test_it_refuses_a_bad_request_in_the_error_shape(
    emulator: EmulatorHandle, payload: object, words: str
) -> None:
    response = post(emulator, payload)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidParameter"
    assert words in error["message"]


def test_a_body_that_is_not_json_is_refused(emulator: EmulatorHandle) -> None:
    response = httpx.post(
        f"{emulator.url}{PATH}", content=b"{", headers={"Authorization": "Bearer x"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The request body is not valid JSON."


def test_a_large_image_is_taken_here_but_not_by_the_other_apis(emulator: EmulatorHandle) -> None:
    big = "data:image/jpeg;base64," + base64.b64encode(b"\xff" * 3_000_000).decode()

    assert post(emulator, body(image_url=big)).status_code == 200
    assert (
        httpx.post(f"{emulator.url}/search/multimodal", content=b"x" * 2_000_000).status_code == 413
    )
    [logged] = [r for r in emulator.requests if r.path == PATH]
    assert len(logged.body) == 1024 * 1024  # the log keeps the first MiB only


# --- faults ---------------------------------------------------------------------------------------


def test_cut_after_closes_the_stream_after_n_events(emulator: EmulatorHandle) -> None:
    emulator.set_fault("cut_after", api="responses", n=4)
    received: list[str] = []

    url, headers = f"{emulator.url}{PATH}", {"Authorization": "Bearer x"}

    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", url, json=body(), headers=headers) as response,
    ):
        received.extend(line for line in response.iter_lines() if line.startswith("data:"))

    assert len(received) == 4


def test_cut_after_more_events_than_there_are_cuts_nothing(emulator: EmulatorHandle) -> None:
    emulator.set_fault("cut_after", api="responses", n=10_000)

    assert events(post(emulator, body()))[-1]["type"] == "response.completed"


def test_faults_are_set_over_http_with_a_number(emulator: EmulatorHandle) -> None:
    control = f"{emulator.url}/_emulator/faults"

    answer = httpx.post(
        control, json={"api": "responses", "fault": "cut_after", "n": 3, "count": 1}
    )

    assert answer.status_code == 200
    assert answer.json()["faults"]["responses"] == {
        "fault": "cut_after",
        "remaining": 1,
        "delay": None,
        "n": 3,
    }
    with pytest.raises(httpx.RemoteProtocolError):
        post(emulator, body())
    assert post(emulator, body()).status_code == 200  # the count ran out


@pytest.mark.parametrize(
    "spec",
    [
        {"api": "responses", "fault": "no_such_fault"},
        {"api": "responses", "fault": "cut_after", "n": -1},
        {"api": "responses", "fault": "cut_after", "n": "3"},
    ],
)
def test_fault_control_refuses_a_bad_fault(emulator: EmulatorHandle, spec: dict[str, Any]) -> None:
    assert httpx.post(f"{emulator.url}/_emulator/faults", json=spec).status_code == 400


def test_the_fault_list_names_the_responses_faults(emulator: EmulatorHandle) -> None:
    known = httpx.get(f"{emulator.url}/_emulator/faults").json()["known"]["responses"]

    assert {"http_401", "http_403", "http_429", "http_500", "http_503", "cut_after"} <= set(known)
    assert {"malformed_event", "no_tool_call", "slow_first_byte", "many_images"} <= set(known)
    assert "image_search" in httpx.get(f"{emulator.url}/").text


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("http_400", 400, "InvalidParameter"),
        ("http_401", 401, "invalid_api_key"),
        ("http_403", 403, "AccessDenied"),
        ("http_429", 429, "Throttling.RateQuota"),
        ("http_500", 500, "InternalError"),
    ],
)
def test_each_error_fault_answers_in_the_compatible_error_shape(
    emulator: EmulatorHandle, fault: str, status: int, code: str
) -> None:
    emulator.set_fault(fault, api="responses")

    response = post(emulator, body())

    assert response.status_code == status
    answer = response.json()
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]
    assert answer["request_id"]


def test_http_503_is_a_gateway_page(emulator: EmulatorHandle) -> None:
    emulator.set_fault("http_503", api="responses")

    response = post(emulator, body())

    assert response.status_code == 503
    assert response.headers["Content-Type"] == "text/html"


def test_malformed_event_breaks_exactly_one_events_json(emulator: EmulatorHandle) -> None:
    emulator.set_fault("malformed_event", api="responses")

    broken = []
    for name, data in frames(post(emulator, body())):
        try:
            json.loads(data)
        except ValueError:
            broken.append(name)

    assert broken == ["response.output_text.delta"]


def test_no_tool_call_answers_with_text_only(emulator: EmulatorHandle) -> None:
    emulator.set_fault("no_tool_call", api="responses")

    all_events = events(post(emulator, body()))

    assert search_done(all_events) == []
    assert "did not search" in all_events[-1]["response"]["output"][0]["content"][0]["text"]


def test_many_images_gives_150_in_one_call_and_two_calls_gives_two(
    emulator: EmulatorHandle,
) -> None:
    emulator.set_fault("many_images", api="responses", count=1)
    [many] = search_done(events(post(emulator, body())))
    emulator.set_fault("two_calls", api="responses", count=1)
    two = events(post(emulator, body()))

    assert len(listing(many)) == 150
    assert [len(listing(done)) for done in search_done(two)] == [60, 60]
    assert two[-1]["response"]["usage"]["x_tools"] == {"image_search": {"count": 2}}


def test_response_failed_ends_the_stream_with_the_error(emulator: EmulatorHandle) -> None:
    emulator.set_fault("response_failed", api="responses")

    all_events = events(post(emulator, body()))

    assert all_events[-1]["type"] == "response.failed"
    assert all_events[-1]["response"]["error"]["code"] == "InternalError"
    assert all_events[-2]["item"]["type"] == "image_search_call"  # after the search's results


def test_ignore_stream_answers_json_to_a_stream_request(emulator: EmulatorHandle) -> None:
    emulator.set_fault("ignore_stream", api="responses")

    response = post(emulator, body())

    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["status"] == "completed"


def test_a_text_prefix_picks_a_fault_and_its_number(emulator: EmulatorHandle) -> None:
    assert post(emulator, body("emulate:http_429 hello")).status_code == 429
    assert search_done(events(post(emulator, body("emulate:no_tool_call hello")))) == []
    with pytest.raises(httpx.RemoteProtocolError):
        post(emulator, body("emulate:cut_after:2 hello"))


def test_reset_restores_the_default_pacing(emulator: EmulatorHandle) -> None:
    emulator.set_pacing(3)

    emulator.reset()

    assert emulator.state.pacing == emulator.state.default_pacing == 1.0
    with pytest.raises(ValueError):
        emulator.set_pacing(-1)
