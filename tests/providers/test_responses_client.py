"""The real Responses client against the emulator, over a real socket, for every fault.

Timing appears only as a wide margin against a delay the emulator was told to
take: a client that waited for the delay would take all of it, one that keeps
its limits takes far less.
"""

from __future__ import annotations

import io
import json
import socket
import time
from decimal import Decimal

import httpx
import pytest
from PIL import Image

from webapp.emulator import EmulatorHandle
from webapp.emulator.core import RecordedRequest
from webapp.providers.errors import ProviderError
from webapp.providers.events import (
    Completed,
    HitsFound,
    ImageHit,
    Progress,
    ProviderEvent,
    TextDelta,
)
from webapp.providers.responses import (
    ImageSearchRequest,
    ResponsesClient,
    StreamInterrupted,
    estimate_cost_cny,
    image_to_data_url,
)

SECRET = "sk-test-0123456789abcdef"
PATH = "/compatible-mode/v1/responses"
# The emulator's answer: created, in_progress, 5 events for the search, then the message.
SEARCH_DONE_AT = 7  # events up to and including the image_search_call's output_item.done


def jpeg(color: tuple[int, int, int] = (40, 90, 160), size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


IMAGE = image_to_data_url(jpeg(), "image/jpeg")


@pytest.fixture(autouse=True)
def instant(emulator: EmulatorHandle) -> None:
    emulator.set_pacing(0)  # events at once; reset() restores the default for other tests


@pytest.fixture
def client(emulator: EmulatorHandle) -> ResponsesClient:
    return make_client(emulator)


def make_client(emulator: EmulatorHandle, **options: object) -> ResponsesClient:
    settings: dict[str, object] = {"api_key": "test-key", "sleep": lambda seconds: None}
    settings.update(options)
    return ResponsesClient(base_url=f"{emulator.url}/compatible-mode/v1", **settings)  # type: ignore[arg-type]


def run(client: ResponsesClient, text: str = "", image_url: str = IMAGE) -> list[ProviderEvent]:
    return list(client.search(ImageSearchRequest(image_url=image_url, text=text)))


def run_until_error(
    client: ResponsesClient, text: str = "", error: type[ProviderError] = ProviderError
) -> tuple[list[ProviderEvent], ProviderError]:
    """The events yielded before the error, and the error."""
    events: list[ProviderEvent] = []
    with pytest.raises(error) as caught:
        for event in client.search(ImageSearchRequest(image_url=IMAGE, text=text)):
            events.append(event)
    return events, caught.value


def hits_of(events: list[ProviderEvent]) -> list[ImageHit]:
    return [hit for event in events if isinstance(event, HitsFound) for hit in event.hits]


def text_of(events: list[ProviderEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def completed_of(events: list[ProviderEvent]) -> Completed:
    [done] = [event for event in events if isinstance(event, Completed)]
    return done


def calls(emulator: EmulatorHandle) -> list[RecordedRequest]:
    return [r for r in emulator.requests if r.path == PATH]


# --- the request ----------------------------------------------------------------------------------


def test_it_posts_the_documents_body_with_a_bearer_key(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    run(client, "find landscapes in this style")

    [sent] = calls(emulator)
    assert sent.method == "POST"
    assert sent.header("Authorization") == "Bearer test-key"
    assert sent.header("Content-Type") == "application/json"
    assert sent.json == {
        "model": "qwen3.7-plus",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "find landscapes in this style"},
                    {"type": "input_image", "image_url": IMAGE},
                ],
            }
        ],
        "tools": [{"type": "image_search"}],
        "stream": True,
    }


def test_without_text_only_the_image_is_sent_and_the_model_is_configurable(
    emulator: EmulatorHandle,
) -> None:
    run(make_client(emulator, model="qwen3.6-plus"))

    [sent] = calls(emulator)
    assert sent.json["model"] == "qwen3.6-plus"
    assert sent.json["input"][0]["content"] == [{"type": "input_image", "image_url": IMAGE}]


def test_a_photo_of_several_megabytes_goes_through(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    big = image_to_data_url(jpeg(size=(1600, 1200)) + b"\0" * 3_000_000, "image/jpeg")

    events = run(client, image_url=big)

    assert hits_of(events)
    [sent] = calls(emulator)
    assert int(sent.header("Content-Length")) > 4_000_000
    assert len(sent.body) == 1024 * 1024  # the emulator's log keeps the first MiB


# --- answers --------------------------------------------------------------------------------------


def test_events_come_as_sent_searching_hits_writing_text_completed(client: ResponsesClient) -> None:
    events = run(client, "find landscapes")

    stages = [event for event in events if isinstance(event, Progress)]
    assert stages == [Progress("sent"), Progress("searching"), Progress("writing")]
    kinds = [type(event) for event in events]
    assert kinds[:5] == [Progress, Progress, HitsFound, Progress, TextDelta]
    assert kinds[-1] is Completed
    assert kinds.count(TextDelta) > 5  # the answer streams in pieces


def test_hits_are_the_emulators_own_pictures_with_title_and_url_only(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    hits = hits_of(run(client))

    assert 10 <= len(hits) <= 20
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))
    assert all(hit.image_url.startswith(f"{emulator.url}/images/") for hit in hits)
    assert all(hit.title for hit in hits)
    assert {(hit.host_page_url, hit.width, hit.height) for hit in hits} == {("", None, None)}
    picture = Image.open(io.BytesIO(httpx.get(hits[0].image_url).content))
    query = httpx.URL(hits[0].image_url).params
    assert picture.size == (int(query["w"]), int(query["h"]))


def test_the_same_image_gives_the_same_hits_and_another_gives_others(
    client: ResponsesClient,
) -> None:
    first = hits_of(run(client))
    again = hits_of(run(client))
    other = hits_of(run(client, image_url=image_to_data_url(jpeg((200, 30, 30)), "image/jpeg")))

    assert first == again
    assert [hit.image_url for hit in first] != [hit.image_url for hit in other]


def test_the_summary_has_usage_tool_calls_ids_and_the_whole_answer(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    events = run(client, "find landscapes")

    done = completed_of(events)
    usage = done.raw_response["usage"]
    assert done.input_tokens == usage["input_tokens"] > 1000
    assert done.output_tokens == usage["output_tokens"] > 0
    assert done.total_tokens == done.input_tokens + done.output_tokens
    assert done.tool_calls == usage["x_tools"]["image_search"]["count"] == 1
    assert done.no_tool_call is False
    assert done.response_id.startswith("resp_")
    assert len(done.request_id) == 36  # the x-request-id header
    assert done.answer_text == text_of(events)
    assert "find landscapes" in done.answer_text
    assert done.query_sent == "find landscapes"
    assert done.provider_ms > 0
    assert (done.dropped_items, done.malformed_events, done.capped_items) == (0, 0, 0)


def test_the_cost_follows_from_the_summary(client: ResponsesClient) -> None:
    done = completed_of(run(client))
    assert done.input_tokens is not None and done.output_tokens is not None

    cost = estimate_cost_cny(
        tool_calls=done.tool_calls,
        input_tokens=done.input_tokens,
        output_tokens=done.output_tokens,
        input_price_per_1k=0.0008,
        output_price_per_1k=0.002,
    )

    expected = (
        Decimal(48) + Decimal("0.0008") * done.input_tokens + Decimal("0.002") * done.output_tokens
    ) / 1000
    assert cost == expected.quantize(Decimal("0.00001"))
    assert cost > Decimal("0.048")


def test_hits_are_yielded_while_the_stream_is_still_open(emulator: EmulatorHandle) -> None:
    # The stream goes quiet for 30 s right after the search's results.
    emulator.set_fault("stall_after", api="responses", n=SEARCH_DONE_AT, delay=30)
    events = make_client(emulator).search(ImageSearchRequest(image_url=IMAGE))

    started = time.monotonic()
    first_hits = next(event for event in events if isinstance(event, HitsFound))
    waited = time.monotonic() - started
    events.close()  # type: ignore[attr-defined]

    assert first_hits.hits
    assert waited < 10


# --- faults that keep what arrived ----------------------------------------------------------------


def test_a_stream_cut_after_the_hits_keeps_them_and_says_so(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    emulator.set_fault("cut_after", api="responses", n=SEARCH_DONE_AT)

    events, error = run_until_error(client, error=StreamInterrupted)

    assert isinstance(error, StreamInterrupted)
    hits = hits_of(events)
    assert 10 <= len(hits) <= 20
    assert not [event for event in events if isinstance(event, Completed)]
    assert error.code == "StreamInterrupted"
    assert error.keeps_results is True
    assert error.transient is False
    assert error.hits_received == len(hits)
    assert error.message == (
        "The image search was cut off before it finished (the connection was closed); "
        f"the {len(hits)} images that arrived are kept."
    )
    assert error.request_id
    assert len(calls(emulator)) == 1  # never asked twice once part of a stream was read


def test_a_stream_cut_during_the_answer_keeps_the_text_so_far(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    emulator.set_fault("cut_after", api="responses", n=SEARCH_DONE_AT + 6)

    events, error = run_until_error(client, error=StreamInterrupted)

    assert isinstance(error, StreamInterrupted)
    assert error.answer_text == text_of(events) != ""
    assert error.message.endswith("images and the text that arrived are kept.")
    assert len(calls(emulator)) == 1


def test_a_stream_cut_before_any_result_is_still_interrupted_not_retried(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    emulator.set_fault("cut_after", api="responses", n=2)

    events, error = run_until_error(client, error=StreamInterrupted)

    assert error.message.endswith("; nothing had arrived yet.")
    assert hits_of(events) == []
    assert len(calls(emulator)) == 1


def test_a_stream_that_goes_quiet_is_given_up_after_the_idle_limit(
    emulator: EmulatorHandle,
) -> None:
    emulator.set_fault("stall_after", api="responses", n=SEARCH_DONE_AT, delay=5)
    client = make_client(emulator, idle_timeout=0.3)

    started = time.monotonic()
    events, error = run_until_error(client, error=StreamInterrupted)

    assert time.monotonic() - started < 4
    assert hits_of(events)
    assert "(nothing arrived for 0.3 s)" in error.message
    assert len(calls(emulator)) == 1


def test_a_stream_never_outlives_the_overall_limit(emulator: EmulatorHandle) -> None:
    emulator.set_pacing(4)  # the search alone takes 6 s, each event 0.1 to 0.3 s
    client = make_client(emulator, timeout=1.0)

    started = time.monotonic()
    _, error = run_until_error(client, error=StreamInterrupted)

    assert time.monotonic() - started < 3
    assert "(the 1 s limit was reached)" in error.message


def test_a_failed_response_after_the_hits_keeps_them(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    emulator.set_fault("response_failed", api="responses")

    events, error = run_until_error(client, error=StreamInterrupted)

    assert hits_of(events)
    assert "(DashScope reported InternalError)" in error.message
    assert error.provider_message == "The model service failed; please try again."
    assert len(calls(emulator)) == 1


def test_a_failed_response_before_any_result_is_a_plain_failure(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    emulator.set_fault("response_failed", api="responses", n=2)

    _, error = run_until_error(client)

    assert not isinstance(error, StreamInterrupted)
    assert error.code == "InternalError"
    assert error.message == "DashScope had a temporary problem; try again in a moment."
    assert error.transient is True
    assert error.keeps_results is False
    assert len(calls(emulator)) == 1  # transient, but the stream had begun: not repeated


# --- odd answers ----------------------------------------------------------------------------------


def test_a_malformed_event_is_skipped_counted_and_the_answer_still_whole(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    emulator.set_fault("malformed_event", api="responses")

    events = run(client)

    done = completed_of(events)
    assert done.malformed_events == 1
    assert hits_of(events)
    assert done.answer_text.startswith(text_of(events)[:10])
    assert len(done.answer_text) > len(text_of(events))  # one delta was lost; the end has all


def test_an_answer_without_a_search_says_so(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    emulator.set_fault("no_tool_call", api="responses")

    events = run(client)

    assert hits_of(events) == []
    assert Progress("no_tool_call", "The model answered without searching for images.") in events
    done = completed_of(events)
    assert done.no_tool_call is True
    assert done.tool_calls == 0
    assert "did not search" in done.answer_text
    assert "x_tools" not in done.raw_response["usage"]


def test_150_images_are_capped_at_100(emulator: EmulatorHandle, client: ResponsesClient) -> None:
    emulator.set_fault("many_images", api="responses")

    events = run(client)

    assert len(hits_of(events)) == 100
    done = completed_of(events)
    assert (done.dropped_items, done.capped_items, done.tool_calls) == (50, 50, 1)


def test_two_searches_share_the_cap_and_are_both_billed(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    emulator.set_fault("two_calls", api="responses")

    events = run(client)

    assert [len(event.hits) for event in events if isinstance(event, HitsFound)] == [60, 40]
    assert Progress("searching", "search 2") in events
    done = completed_of(events)
    assert (done.tool_calls, done.capped_items) == (2, 20)


def test_a_server_that_ignores_stream_gives_the_same_events(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    streamed = run(client, "find landscapes")
    emulator.set_fault("ignore_stream", api="responses")

    whole = run(client, "find landscapes")

    assert hits_of(whole) == hits_of(streamed)
    assert text_of(whole) == completed_of(streamed).answer_text
    assert [type(e) for e in whole] == [
        Progress,
        Progress,
        HitsFound,
        Progress,
        TextDelta,
        Completed,
    ]
    done = completed_of(whole)
    assert (done.input_tokens, done.tool_calls) == (completed_of(streamed).input_tokens, 1)


def test_a_slow_first_byte_is_waited_for(emulator: EmulatorHandle) -> None:
    emulator.set_fault("slow_first_byte", api="responses", delay=0.5)

    events = run(make_client(emulator, idle_timeout=5))

    assert hits_of(events)


def test_a_first_byte_slower_than_the_idle_limit_is_a_timeout_not_retried(
    emulator: EmulatorHandle,
) -> None:
    emulator.set_fault("slow_first_byte", api="responses", delay=4)
    client = make_client(emulator, idle_timeout=0.3)

    started = time.monotonic()
    events, error = run_until_error(client)

    assert time.monotonic() - started < 3
    assert error.code == "Timeout"
    assert error.message == (
        "The image search service (DashScope) did not answer in time; try again in a moment."
    )
    assert events == []
    assert len(calls(emulator)) == 1  # it may still be searching, and billing


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "status", "message"),
    [
        (
            "http_401",
            "invalid_api_key",
            401,
            "The DashScope API key was refused; check DASHSCOPE_API_KEY.",
        ),
        (
            "http_403",
            "AccessDenied",
            403,
            "DashScope refused access to this model or to the image_search tool; check the "
            "account's permissions and balance in the Model Studio console.",
        ),
        (
            "http_400",
            "InvalidParameter",
            400,
            "DashScope did not accept the image search (HTTP 400): "
            "The image format is illegal and cannot be opened.",
        ),
    ],
)
def test_a_refusal_is_a_plain_sentence_and_is_tried_once(
    emulator: EmulatorHandle,
    client: ResponsesClient,
    fault: str,
    code: str,
    status: int,
    message: str,
) -> None:
    emulator.set_fault(fault, api="responses")

    events, error = run_until_error(client)

    assert (error.code, error.status, error.message) == (code, status, message)
    assert error.transient is False
    assert error.request_id
    assert events == []  # not even "sent": the request was not accepted
    assert len(calls(emulator)) == 1


@pytest.mark.parametrize(
    ("fault", "code"),
    [("http_429", "Throttling.RateQuota"), ("http_500", "InternalError"), ("http_503", "HTTP.503")],
)
def test_throttling_and_server_errors_are_tried_three_times(
    emulator: EmulatorHandle, fault: str, code: str
) -> None:
    waits: list[float] = []
    client = make_client(emulator, sleep=waits.append)
    emulator.set_fault(fault, api="responses")

    events, error = run_until_error(client)

    assert error.code == code
    assert error.transient is True
    assert len(calls(emulator)) == 3
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 1.5  # base 0.5 s, doubling, jitter
    assert [e.stage for e in events if isinstance(e, Progress)] == ["retrying", "retrying"]


def test_one_throttle_then_success_succeeds(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    emulator.set_fault("http_429", count=1, api="responses")

    events = run(client)

    assert hits_of(events)
    assert Progress("retrying", "Throttling.RateQuota; try 2 of 3") in events
    assert len(calls(emulator)) == 2


def test_a_connection_closed_before_any_event_is_retried(
    emulator: EmulatorHandle, client: ResponsesClient
) -> None:
    emulator.set_fault("cut_after", count=1, api="responses", n=0)

    events = run(client)

    assert hits_of(events)
    assert len(calls(emulator)) == 2
    assert events.count(Progress("sent")) == 2  # the first answer was accepted, then empty


@pytest.mark.parametrize("fault", ["disconnect", "cut_after"])
def test_a_connection_that_keeps_dropping_is_a_network_error(
    emulator: EmulatorHandle, client: ResponsesClient, fault: str
) -> None:
    emulator.set_fault(fault, api="responses", n=0)

    _, error = run_until_error(client)

    assert error.code == "Network"
    assert error.message == (
        "Loupe could not reach the image search service (DashScope); check the network "
        "and try again."
    )
    assert len(calls(emulator)) == 3


def test_max_tries_is_honoured(emulator: EmulatorHandle) -> None:
    emulator.set_fault("http_503", api="responses")

    run_until_error(make_client(emulator, max_tries=1))

    assert len(calls(emulator)) == 1


def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ResponsesClient(
        base_url=f"http://127.0.0.1:{port}/compatible-mode/v1", api_key="k", sleep=lambda s: None
    )

    _, error = run_until_error(client)

    assert error.code == "Network"


def test_a_text_prefix_injects_a_fault_for_demos(client: ResponsesClient) -> None:
    _, error = run_until_error(client, "emulate:http_403 find landscapes")
    assert error.code == "AccessDenied"

    events, cut = run_until_error(
        client, f"emulate:cut_after:{SEARCH_DONE_AT} x", StreamInterrupted
    )
    assert hits_of(events) and cut.code == "StreamInterrupted"


# --- the key stays secret -------------------------------------------------------------------------


def test_the_key_is_not_in_the_answer_or_the_client(emulator: EmulatorHandle) -> None:
    client = make_client(emulator, api_key=SECRET)

    done = completed_of(run(client))

    assert SECRET not in json.dumps(done.raw_response)
    assert SECRET not in repr(client)
    assert calls(emulator)[0].header("Authorization") == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    ("fault", "n"), [("http_401", None), ("echo_key", None), ("disconnect", None), ("cut_after", 9)]
)
def test_the_key_is_not_in_any_error(emulator: EmulatorHandle, fault: str, n: int | None) -> None:
    client = make_client(emulator, api_key=SECRET)
    emulator.set_fault(fault, api="responses", n=n)

    _, error = run_until_error(client)

    for text in (str(error), repr(error), error.message, error.provider_message):
        assert SECRET not in text
    if fault == "echo_key":  # the gateway did repeat it; we removed it
        assert error.provider_message == "Incorrect API key provided: [redacted]"
