"""Responses API parsing without a socket: a recorded stream, SSE, hits, text, errors, cost."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from webapp.providers import responses
from webapp.providers.errors import ProviderError
from webapp.providers.events import Completed, HitsFound, Progress, ProviderEvent, TextDelta
from webapp.providers.responses import (
    ImageSearchRequest,
    ImageSearchStream,
    Malformed,
    ResponsesClient,
    StreamInterrupted,
    build_request_body,
    error_from_response,
    estimate_cost_cny,
    image_to_data_url,
    parse_sse_lines,
)

RECORDING = Path(__file__).parent / "data" / "responses_stream.txt"
DOC_ANSWER_START = "OK. I have found several landscape images with a similar style."
DATA_URL = "data:image/png;base64,iVBORw0KGgo="


def recorded_lines() -> list[str]:
    return RECORDING.read_text(encoding="utf-8").splitlines()


def replay(pairs: list[tuple[str, object]], **options: Any) -> list[ProviderEvent]:
    stream = ImageSearchStream(**options)
    events: list[ProviderEvent] = []
    for event_type, data in pairs:
        events += stream.feed(event_type, data)
    return events


def completed_of(events: list[ProviderEvent]) -> Completed:
    [done] = [event for event in events if isinstance(event, Completed)]
    return done


def hits_of(events: list[ProviderEvent]) -> list[HitsFound]:
    return [event for event in events if isinstance(event, HitsFound)]


def call_done(images: object, item_id: str = "isc_1", index: int = 0) -> tuple[str, object]:
    output = images if not isinstance(images, list) else json.dumps(images)
    item = {"id": item_id, "type": "image_search_call", "status": "completed", "output": output}
    return "response.output_item.done", {"output_index": index, "item": item}


def completed(usage: dict[str, Any] | None = None, output: list[Any] | None = None) -> Any:
    response = {"id": "resp_1", "status": "completed", "output": output or [], "usage": usage}
    return "response.completed", {"response": response}


def images(count: int, prefix: str = "a") -> list[dict[str, object]]:
    return [
        {"index": n, "title": f"Image {n}", "url": f"https://img.example.com/{prefix}{n}.jpg"}
        for n in range(1, count + 1)
    ]


# --- the recorded stream --------------------------------------------------------------------------


def test_it_reads_every_event_of_the_recording_in_order() -> None:
    pairs = list(parse_sse_lines(recorded_lines()))

    assert len(pairs) == 26  # the comments and the keep-alive are not events
    assert pairs[0][0] == "response.created"
    assert pairs[-1][0] == "response.completed"
    assert [data["sequence_number"] for _, data in pairs] == list(range(26))  # type: ignore[index]
    assert not [data for _, data in pairs if isinstance(data, Malformed)]


def test_the_recording_gives_stages_hits_text_and_a_summary() -> None:
    events = replay(list(parse_sse_lines(recorded_lines())), query_sent="find landscapes")

    kinds = [type(event).__name__ for event in events]
    assert kinds[:4] == ["Progress", "HitsFound", "Progress", "TextDelta"]
    assert kinds[-1] == "Completed"
    assert events[0] == Progress("searching")
    assert events[2] == Progress("writing")
    [found] = hits_of(events)
    assert [(hit.rank, hit.title) for hit in found.hits] == [
        (1, "QingMing Festival Holiday Notice 2024"),
        (2, "Serene Asian Landscape Stone Bridge Reflecting in Misty Water"),
        (3, "Chinese landscape painting with pavilion and lotus pond"),
    ]
    assert found.hits[0].image_url == (
        "https://www.healthcabin.net/blog/wp-content/uploads/2024/04/"
        "QingMing-Festival-Holiday-Notice-2024.jpg"
    )
    # The provider gives no host page and no size: the thumbnail pipeline measures.
    assert {(hit.host_page_url, hit.width, hit.height) for hit in found.hits} == {("", None, None)}


def test_the_recordings_summary_carries_usage_tool_calls_and_the_answer() -> None:
    events = replay(list(parse_sse_lines(recorded_lines())), query_sent="find landscapes")

    done = completed_of(events)
    deltas = "".join(event.text for event in events if isinstance(event, TextDelta))
    assert (done.input_tokens, done.output_tokens, done.total_tokens) == (5339, 164, 5503)
    assert done.tool_calls == 1
    assert done.no_tool_call is False
    assert done.response_id == "resp_8f2c1d6e-4b7a-4c1e-9a53-2f6d0e7b1c94"
    assert done.request_id == done.response_id  # no x-request-id header in a recording
    assert done.answer_text == deltas
    assert done.answer_text.startswith(DOC_ANSWER_START)
    assert done.query_sent == "find landscapes"
    assert (done.dropped_items, done.malformed_events, done.capped_items) == (0, 0, 0)
    assert done.raw_response["usage"]["x_tools"] == {"image_search": {"count": 1}}


def test_the_recorded_text_is_not_repeated_by_the_done_and_completed_events() -> None:
    events = replay(list(parse_sse_lines(recorded_lines())))

    deltas = [event.text for event in events if isinstance(event, TextDelta)]
    assert len(deltas) == 15
    assert "".join(deltas).count(DOC_ANSWER_START) == 1


# --- SSE framing ----------------------------------------------------------------------------------


def test_sse_joins_data_lines_and_drops_one_leading_space() -> None:
    lines = ["event: x", 'data: {"a":', "data:1}", "", "data:  [1, 2]", ""]

    assert list(parse_sse_lines(lines)) == [("x", {"a": 1}), ("", [1, 2])]


def test_sse_prefers_the_datas_own_type_and_falls_back_to_the_event_field() -> None:
    lines = [
        "event: response.created",
        'data: {"type": "response.in_progress"}',
        "",
        "event: ping",
        'data: {"no": "type"}',
        "",
    ]

    assert [kind for kind, _ in parse_sse_lines(lines)] == ["response.in_progress", "ping"]


def test_sse_ignores_comments_ids_retries_and_done() -> None:
    lines = [": hello", "id: 7", "retry: 1000", 'data: {"type": "t"}', "", "data: [DONE]", ""]

    assert list(parse_sse_lines(lines)) == [("t", {"type": "t"})]


def test_sse_takes_crlf_lines() -> None:
    lines = ["event: t\r\n", 'data: {"type": "t"}\r\n', "\r\n"]

    assert list(parse_sse_lines(lines)) == [("t", {"type": "t"})]


def test_sse_gives_broken_json_as_malformed_and_goes_on() -> None:
    lines = [
        "event: response.output_text.delta",
        'data: {"delta": "cut',
        "",
        'data: {"type": "t"}',
        "",
    ]

    [(kind, broken), second] = list(parse_sse_lines(lines))
    assert kind == "response.output_text.delta"
    assert isinstance(broken, Malformed)
    assert broken.text == '{"delta": "cut'
    assert second == ("t", {"type": "t"})


def test_an_event_cut_by_the_end_of_the_stream_is_dropped_unless_complete() -> None:
    assert list(parse_sse_lines(['data: {"type": "t", "a": '])) == []
    assert list(parse_sse_lines(['data: {"type": "t"}'])) == [("t", {"type": "t"})]


# --- hits -----------------------------------------------------------------------------------------


def test_the_output_may_come_as_a_list_instead_of_a_json_string() -> None:
    kind, data = call_done(images(2))
    data["item"]["output"] = images(2)  # type: ignore[index]

    [found] = hits_of(replay([(kind, data)]))

    assert [hit.title for hit in found.hits] == ["Image 1", "Image 2"]


def test_items_without_a_usable_url_are_dropped_and_titles_repaired() -> None:
    listing: list[object] = [
        {"index": 1, "title": "  A  \n title ", "url": "https://a.example.com/1.jpg"},
        {"index": 2, "title": "no url"},
        {"index": 3, "title": "script", "url": "javascript:alert(1)"},
        {"index": 4, "url": "//cdn.example.com/4.jpg"},
        {"index": 5, "title": "again", "url": "https://a.example.com/1.jpg"},
        "not an object",
    ]

    events = replay([call_done(listing), completed()])

    [found] = hits_of(events)
    assert [(hit.rank, hit.title, hit.image_url) for hit in found.hits] == [
        (1, "A title", "https://a.example.com/1.jpg"),
        (2, "cdn.example.com", "https://cdn.example.com/4.jpg"),
    ]
    assert completed_of(events).dropped_items == 4


def test_an_output_that_is_not_json_is_counted_and_skipped() -> None:
    events = replay([call_done("[{broken"), completed()])

    assert hits_of(events) == []
    assert completed_of(events).malformed_events == 1
    assert completed_of(events).no_tool_call is False  # the model did search


def test_more_than_100_images_are_capped_and_counted() -> None:
    events = replay(
        [call_done(images(150)), completed({"x_tools": {"image_search": {"count": 1}}})]
    )

    [found] = hits_of(events)
    assert len(found.hits) == 100
    assert found.hits[-1].rank == 100
    done = completed_of(events)
    assert (done.dropped_items, done.capped_items) == (50, 50)


def test_the_cap_counts_every_call_of_the_search() -> None:
    events = replay(
        [
            call_done(images(60, "a"), "isc_1", 0),
            call_done(images(60, "b"), "isc_2", 1),
            completed({"x_tools": {"image_search": {"count": 2}}}),
        ]
    )

    assert [len(found.hits) for found in hits_of(events)] == [60, 40]
    assert hits_of(events)[1].hits[0].rank == 61
    assert completed_of(events).tool_calls == 2
    assert completed_of(events).capped_items == 20
    assert [e for e in events if isinstance(e, Progress)] == [
        Progress("searching"),
        Progress("searching", "search 2"),
    ]


def test_a_call_added_then_done_announces_searching_once() -> None:
    added = (
        "response.output_item.added",
        {"output_index": 0, "item": {"id": "isc_1", "type": "image_search_call"}},
    )

    events = replay([added, call_done(images(1))])

    assert [type(event) for event in events] == [Progress, HitsFound]


def test_a_search_the_stream_never_finished_is_read_from_response_completed() -> None:
    item = {"id": "isc_1", "type": "image_search_call", "output": json.dumps(images(3))}

    events = replay([completed({"input_tokens": 10}, [item])])

    assert [len(found.hits) for found in hits_of(events)] == [3]
    assert completed_of(events).tool_calls == 1  # counted from the items: no x_tools


def test_a_search_streamed_and_repeated_in_response_completed_is_shown_once() -> None:
    kind, data = call_done(images(3))

    events = replay([(kind, data), completed(output=[data["item"]])])  # type: ignore[index]

    assert [len(found.hits) for found in hits_of(events)] == [3]


# --- text -----------------------------------------------------------------------------------------


def test_a_text_given_only_whole_is_shown_once() -> None:
    done_text = ("response.output_text.done", {"item_id": "msg_1", "text": "All done."})
    message = {
        "id": "msg_1",
        "type": "message",
        "content": [{"type": "output_text", "text": "All done."}],
    }

    events = replay([done_text, completed(output=[message])])

    assert [e.text for e in events if isinstance(e, TextDelta)] == ["All done."]
    assert completed_of(events).answer_text == "All done."


def test_the_final_message_is_the_answer_even_when_a_delta_was_lost() -> None:
    delta = ("response.output_text.delta", {"item_id": "msg_1", "delta": "Hello "})
    lost = ("response.output_text.delta", Malformed('{"delta": "wor', "cut"))
    message = {
        "id": "msg_1",
        "type": "message",
        "content": [{"type": "output_text", "text": "Hello world"}],
    }

    events = replay([delta, lost, completed(output=[message])])

    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello "]
    done = completed_of(events)
    assert done.answer_text == "Hello world"
    assert done.malformed_events == 1


def test_unknown_events_and_shapes_are_ignored() -> None:
    pairs: list[tuple[str, object]] = [
        ("response.reasoning_summary_text.delta", {"delta": "thinking"}),
        ("response.output_text.delta", {"delta": 42}),
        ("response.output_item.added", {"item": "not an object"}),
        ("", [1, 2, 3]),
    ]

    assert replay(pairs) == []


# --- the end --------------------------------------------------------------------------------------


def test_an_answer_without_image_search_says_so() -> None:
    delta = ("response.output_text.delta", {"item_id": "m", "delta": "No search."})

    events = replay([delta, completed({"input_tokens": 9, "output_tokens": 3, "total_tokens": 12})])

    assert Progress("no_tool_call", "The model answered without searching for images.") in events
    done = completed_of(events)
    assert done.no_tool_call is True
    assert done.tool_calls == 0
    assert hits_of(events) == []


def test_an_incomplete_response_completes_with_its_reason() -> None:
    response = {
        "id": "r",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
    }

    events = replay([call_done(images(1)), ("response.incomplete", {"response": response})])

    assert Progress("incomplete", "max_output_tokens") in events
    assert completed_of(events).tool_calls == 1


def test_response_failed_before_anything_is_an_ordinary_error() -> None:
    failed = {"response": {"status": "failed", "error": {"code": "Arrearage", "message": "Pay."}}}

    with pytest.raises(ProviderError) as caught:
        replay([("response.failed", failed)], request_id="req-1")

    error = caught.value
    assert not isinstance(error, StreamInterrupted)
    assert error.keeps_results is False
    assert error.code == "Arrearage"
    assert error.message == (
        "The DashScope account has an overdue balance; top it up in the Alibaba Cloud console."
    )
    assert (error.provider_message, error.request_id) == ("Pay.", "req-1")


def test_response_failed_after_hits_keeps_them() -> None:
    failed = {"response": {"status": "failed", "error": {"code": "InternalError", "message": "x"}}}

    with pytest.raises(StreamInterrupted) as caught:
        replay([call_done(images(4)), ("response.failed", failed)])

    error = caught.value
    assert error.keeps_results is True
    assert error.hits_received == 4
    assert error.message == (
        "The image search was cut off before it finished (DashScope reported InternalError); "
        "the 4 images that arrived are kept."
    )


def test_an_error_event_is_a_provider_error() -> None:
    with pytest.raises(ProviderError) as caught:
        replay([("error", {"type": "error", "code": "limit_requests", "message": "Slow down"})])

    assert caught.value.code == "limit_requests"
    assert "too many requests" in caught.value.message


@pytest.mark.parametrize(
    ("hits", "text", "kept"),
    [
        (0, "", "nothing had arrived yet"),
        (1, "", "the 1 image that arrived is kept"),
        (3, "Some", "the 3 images and the text that arrived are kept"),
        (0, "Some", "the text that arrived is kept"),
    ],
)
def test_an_interruption_says_what_is_kept(hits: int, text: str, kept: str) -> None:
    stream = ImageSearchStream()
    if hits:
        stream.feed(*call_done(images(hits)))
    if text:
        stream.feed("response.output_text.delta", {"delta": text})

    error = stream.interrupted("the connection was closed")

    assert error.message == (
        f"The image search was cut off before it finished (the connection was closed); {kept}."
    )
    assert (error.hits_received, error.answer_text) == (hits, text)


def test_a_non_streamed_response_gives_the_same_events() -> None:
    # The shape of api-docs 004's non-streaming example: 2 images, 2753 + 181 tokens.
    payload = {
        "id": "resp_2",
        "status": "completed",
        "input": [{"role": "user", "content": [{"type": "input_image", "image_url": DATA_URL}]}],
        "output": [
            {
                "id": "isc_1",
                "type": "image_search_call",
                "status": "completed",
                "output": json.dumps(images(2)),
            },
            {"id": "msg_1", "type": "message", "content": [{"type": "output_text", "text": "OK."}]},
        ],
        "usage": {
            "input_tokens": 2753,
            "output_tokens": 181,
            "total_tokens": 2934,
            "x_tools": {"image_search": {"count": 1}},
        },
    }

    events = ImageSearchStream().feed_response(payload)

    assert [type(event) for event in events] == [
        Progress,
        HitsFound,
        Progress,
        TextDelta,
        Completed,
    ]
    done = completed_of(events)
    assert (done.input_tokens, done.output_tokens, done.total_tokens, done.tool_calls) == (
        2753,
        181,
        2934,
        1,
    )
    assert "input" not in done.raw_response  # the query image is never kept in the summary


def test_a_huge_data_url_echoed_back_is_elided_from_the_summary() -> None:
    echoed = "data:image/jpeg;base64," + "A" * 100_000

    done = completed_of(replay([completed(output=[{"type": "note", "image": echoed}])]))

    kept = done.raw_response["output"][0]["image"]
    assert len(kept) < 100
    assert kept.endswith("(100023 characters elided)")


# --- the request ----------------------------------------------------------------------------------


def test_the_body_has_the_documents_shape_with_text_first() -> None:
    body = build_request_body(
        ImageSearchRequest(image_url=DATA_URL, text=" find landscapes in this style "),
        model="qwen3.7-plus",
    )

    assert body == {
        "model": "qwen3.7-plus",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "find landscapes in this style"},
                    {"type": "input_image", "image_url": DATA_URL},
                ],
            }
        ],
        "tools": [{"type": "image_search"}],
        "stream": True,
    }


@pytest.mark.parametrize("text", ["", "   "])
def test_without_text_the_image_goes_alone(text: str) -> None:
    body = build_request_body(ImageSearchRequest(image_url=DATA_URL, text=text), model="m")

    assert body["input"][0]["content"] == [{"type": "input_image", "image_url": DATA_URL}]


def test_an_https_image_url_is_sent_as_is() -> None:
    url = "https://img.alicdn.com/imgextra/i4/O1CN01YbrnSS1qtmsAkw0Ud_!!6000000005554-2-tps-788-450.png"

    body = build_request_body(ImageSearchRequest(image_url=url), model="m")

    assert body["input"][0]["content"][0]["image_url"] == url


@pytest.mark.parametrize(
    "image_url",
    ["", "ftp://example.com/a.jpg", "data:text/html;base64,PGI+", "data:image/png,raw", "/a.jpg"],
)
def test_a_bad_image_url_is_refused_before_sending(image_url: str) -> None:
    with pytest.raises(ValueError, match="image_url"):
        build_request_body(ImageSearchRequest(image_url=image_url), model="m")


def test_image_bytes_become_a_data_url() -> None:
    url = image_to_data_url(b"\x89PNG\r\n", "IMAGE/PNG")

    assert url == "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n").decode()


@pytest.mark.parametrize(
    ("data", "kind"), [(b"x", "text/html"), (b"x", "image/"), (b"", "image/png")]
)
def test_a_data_url_needs_image_bytes_and_an_image_type(data: bytes, kind: str) -> None:
    with pytest.raises(ValueError):
        image_to_data_url(data, kind)


# --- errors ---------------------------------------------------------------------------------------


def test_a_refused_key_in_the_compatible_shape_reads_plainly() -> None:
    body = {
        "error": {
            "message": "Incorrect API key provided. ",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        },
        "request_id": "req-9",
    }

    error = error_from_response(401, json.dumps(body))

    assert error.code == "invalid_api_key"
    assert str(error) == (
        "invalid_api_key: The DashScope API key was refused; check DASHSCOPE_API_KEY."
    )
    assert (error.status, error.transient, error.request_id) == (401, False, "req-9")
    assert error.provider_message == "Incorrect API key provided."


def test_dashscopes_own_error_shape_is_read_too() -> None:
    body = {
        "code": "Arrearage",
        "message": "Access denied, please make sure your account is in good standing.",
        "request_id": "r",
    }

    error = error_from_response(400, json.dumps(body))

    assert error.code == "Arrearage"
    assert "overdue balance" in error.message
    assert error.request_id == "r"


@pytest.mark.parametrize(
    ("status", "transient", "words"),
    [
        (401, False, "API key was refused"),
        (403, False, "refused access"),
        (429, True, "too many requests"),
        (500, True, "temporary problem (HTTP 500)"),
        (503, True, "temporary problem (HTTP 503)"),
        (404, False, "did not accept the image search (HTTP 404)"),
    ],
)
def test_each_status_without_a_code_gets_a_sentence(
    status: int, transient: bool, words: str
) -> None:
    error = error_from_response(status, "<html>gateway says no</html>", request_id="hdr")

    assert error.code == f"HTTP.{status}"
    assert error.transient is transient
    assert words in error.message
    assert error.provider_message == "<html>gateway says no</html>"
    assert error.request_id == "hdr"


def test_a_bad_request_quotes_the_providers_reason() -> None:
    body = {
        "error": {
            "code": "InvalidParameter",
            "message": "The image format is illegal and cannot be opened.",
        }
    }

    error = error_from_response(400, json.dumps(body))

    assert error.message == (
        "DashScope did not accept the image search (HTTP 400): "
        "The image format is illegal and cannot be opened."
    )


# --- cost -----------------------------------------------------------------------------------------


def test_cost_is_48_per_thousand_calls_plus_tokens() -> None:
    cost = estimate_cost_cny(
        tool_calls=1,
        input_tokens=5339,
        output_tokens=164,
        input_price_per_1k=0.0008,
        output_price_per_1k=0.002,
    )

    # 0.048 for the call + 5.339 × 0.0008 + 0.164 × 0.002 = 0.0525992
    assert cost == Decimal("0.05260")


def test_a_thousand_calls_cost_48_yuan_and_an_international_price_can_be_given() -> None:
    kwargs: dict[str, Any] = {"input_tokens": 0, "output_tokens": 0}
    prices = {"input_price_per_1k": 0, "output_price_per_1k": 0}

    assert estimate_cost_cny(tool_calls=1000, **kwargs, **prices) == Decimal("48.00000")
    assert estimate_cost_cny(
        tool_calls=1000, tool_price_per_1k=Decimal("58.713905"), **kwargs, **prices
    ) == Decimal("58.71391")
    assert estimate_cost_cny(tool_calls=0, **kwargs, **prices) == Decimal("0.00000")


def test_float_prices_carry_no_binary_noise() -> None:
    cost = estimate_cost_cny(
        tool_calls=0,
        input_tokens=1000,
        output_tokens=0,
        input_price_per_1k=0.1,
        output_price_per_1k=0,
    )

    assert cost == Decimal("0.10000")


@pytest.mark.parametrize(
    "bad",
    [
        {"tool_calls": -1},
        {"input_tokens": True},
        {"output_tokens": 1.5},
        {"input_price_per_1k": -0.1},
        {"output_price_per_1k": float("nan")},
    ],
)
def test_cost_refuses_negative_or_odd_numbers(bad: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "tool_calls": 1,
        "input_tokens": 1,
        "output_tokens": 1,
        "input_price_per_1k": 0.1,
        "output_price_per_1k": 0.1,
        **bad,
    }

    with pytest.raises(ValueError):
        estimate_cost_cny(**arguments)


# --- reading the bytes (a mock transport: this is parsing, the socket is tested elsewhere) --------


def client_over(chunks: list[bytes], content_type: str = "text/event-stream") -> ResponsesClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, content=iter(chunks))

    return ResponsesClient(
        base_url="https://dashscope.example.com/compatible-mode/v1",
        api_key="k",
        transport=httpx.MockTransport(answer),
        sleep=lambda seconds: None,
    )


def search_all(client: ResponsesClient) -> list[ProviderEvent]:
    return list(client.search(ImageSearchRequest(image_url=DATA_URL)))


def test_lines_and_characters_split_across_chunks_arrive_whole() -> None:
    raw = RECORDING.read_bytes().replace(b"several", "sévéral 风景".encode())
    chunks = [raw[start : start + 7] for start in range(0, len(raw), 7)]  # splits UTF-8 too

    events = search_all(client_over(chunks))

    assert "sévéral 风景" in completed_of(events).answer_text
    assert len(hits_of(events)[0].hits) == 3


def test_an_unlabelled_body_is_recognised_as_events_or_json() -> None:
    streamed = search_all(client_over([RECORDING.read_bytes()], content_type=""))
    payload = {"id": "r", "status": "completed", "output": [], "usage": {"input_tokens": 1}}
    whole = search_all(client_over([json.dumps(payload).encode()], content_type=""))

    assert completed_of(streamed).tool_calls == 1
    assert completed_of(whole).input_tokens == 1


def test_an_endless_line_before_any_event_is_a_bad_response(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(responses, "MAX_LINE_BYTES", 1000)

    with pytest.raises(ProviderError) as caught:
        search_all(client_over([b"data: " + b"x" * 600, b"y" * 600]))

    assert caught.value.code == "BadResponse"


def test_an_answer_too_large_after_the_hits_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(responses, "MAX_STREAM_BYTES", 5000)
    raw = RECORDING.read_bytes()
    head = raw[: raw.index(b"event: response.output_item.added", raw.index(b"isc_3c9a") + 600)]

    events: list[ProviderEvent] = []
    with pytest.raises(StreamInterrupted) as caught:
        for event in client_over([head, b": pad\n" * 2000]).search(
            ImageSearchRequest(image_url=DATA_URL)
        ):
            events.append(event)

    assert len(hits_of(events)[0].hits) == 3
    assert caught.value.reason == "the answer was too large to read"
    assert "bytes" in caught.value.provider_message
