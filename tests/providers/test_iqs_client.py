"""The real IQS client against the emulator, over a real socket.

The last section checks the emulator's side of the same wire (auth, validation,
excludeSites, fault control), with plain httpx.
"""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from webapp.emulator import EmulatorHandle
from webapp.emulator.core import RecordedRequest
from webapp.providers.errors import ProviderError
from webapp.providers.events import Completed, HitsFound, ImageHit, Progress, ProviderEvent
from webapp.providers.iqs import IqsClient, IqsRequest

SECRET = "sk-test-0123456789abcdef"
DOC_SIZES = [
    (720, 1280), (928, 1232), (1280, 853), (934, 1121), (1080, 1441),
    (936, 1664), (1680, 1050), (928, 1664), (988, 2188), (936, 1664),
    (936, 1664), (720, 1280), (400, 711), (1621, 1050), (1778, 1280),
    (640, 934), (2560, 1440), (640, 960), (2000, 1125), (1918, 1280),
]  # fmt: skip
# (code, status, message as the document lists it, transient)
DOCUMENTED_ERRORS = [
    ("InvalidAccessKeyId.NotFound", 404, "Specified access key is not found.", False),
    ("Retrieval.NotActivate", 403, "Please activate AI search service", False),
    ("Retrieval.Arrears", 403, "Please recharge first.", False),
    (
        "Retrieval.NotAuthorised",
        403,
        "Please authorize the AliyunIQSFullAccess privilege to the sub-account.",
        False,
    ),
    ("Retrieval.TestUserPeriodExpired", 403, "The test period has expired.", False),
    ("Retrieval.Throttling.User", 429, "Request was denied due to user flow control.", True),
    ("Retrieval.TestUserQueryPerDayExceeded", 429, "The query per day exceed the limit.", False),
]


def run(client: IqsClient, query: str = "lion", sites: tuple[str, ...] = ()) -> list[ProviderEvent]:
    return list(client.search(IqsRequest(query=query, exclude_sites=sites)))


def hits_of(events: list[ProviderEvent]) -> list[ImageHit]:
    return next(event.hits for event in events if isinstance(event, HitsFound))


def completed_of(events: list[ProviderEvent]) -> Completed:
    return next(event for event in events if isinstance(event, Completed))


def searches(emulator: EmulatorHandle) -> list[RecordedRequest]:
    return [r for r in emulator.requests if r.path == "/search/multimodal"]


def search_error(client: IqsClient, query: str = "lion") -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        run(client, query)
    return caught.value


# --- the request ------------------------------------------------------------------------------


def test_it_posts_json_with_a_bearer_key_and_no_advanced_params(
    emulator: EmulatorHandle, iqs_client: IqsClient
) -> None:
    run(iqs_client)

    [sent] = searches(emulator)
    assert sent.method == "POST"
    assert sent.header("Authorization") == "Bearer test-key"
    assert sent.header("Content-Type") == "application/json"
    assert sent.json == {"query": "lion"}


def test_it_sends_exclude_sites_as_one_comma_separated_string(
    emulator: EmulatorHandle, iqs_client: IqsClient
) -> None:
    run(iqs_client, sites=("www.360doc.com", "weibo.com"))

    [sent] = searches(emulator)
    assert sent.json == {
        "query": "lion",
        "advancedParams": {"excludeSites": "www.360doc.com,weibo.com"},
    }


def test_it_sends_a_chinese_query_as_utf8(emulator: EmulatorHandle, iqs_client: IqsClient) -> None:
    run(iqs_client, "狮子")

    [sent] = searches(emulator)
    assert "狮子".encode() in sent.body
    assert sent.json == {"query": "狮子"}


# --- answers ----------------------------------------------------------------------------------


def test_lion_gives_the_english_documents_20_items(
    emulator: EmulatorHandle, iqs_client: IqsClient
) -> None:
    hits = hits_of(run(iqs_client, "lion"))

    assert [hit.rank for hit in hits] == list(range(1, 21))
    assert [(hit.width, hit.height) for hit in hits] == DOC_SIZES
    assert hits[0].title == (
        "A lion's life of battle hides countless legends of life-and-death struggles"
    )
    assert hits[16].title == "Male lions flirting with each other"
    assert hits[16].host_page_url == "http://www.bilibili.com/video/BV171vDBtEeA"
    assert hits[0].published_time == datetime(
        2025, 4, 12, 12, 47, 54, tzinfo=timezone(timedelta(hours=8))
    )
    # The pictures come from the emulator, so the gallery works offline.
    assert all(hit.image_url.startswith(emulator.url + "/images/") for hit in hits)


def test_shizi_gives_the_chinese_documents_20_items(iqs_client: IqsClient) -> None:
    hits = hits_of(run(iqs_client, "狮子"))

    assert len(hits) == 20
    assert hits[0].title == "狮子一生征战沙场,背后藏着无数生死搏斗的传奇"
    assert hits[19].title == "为什么生意越来越难做,破产的老板越来越多.道理很简单,草原上狮子越"
    assert hits[2].host_page_url == "http://news.sohu.com/a/945934548_120545240"
    assert [(hit.width, hit.height) for hit in hits] == DOC_SIZES


def test_events_come_as_sent_hits_completed(iqs_client: IqsClient) -> None:
    events = run(iqs_client)

    assert [type(event) for event in events] == [Progress, HitsFound, Completed]
    assert events[0] == Progress("sent")


def test_it_captures_request_id_search_time_and_the_raw_answer(iqs_client: IqsClient) -> None:
    done = completed_of(run(iqs_client, "狮子"))

    raw = done.raw_response
    assert done.request_id == raw["requestId"]
    assert len(done.request_id) == 36
    assert done.search_time_ms == raw["searchInformation"]["searchTime"]
    assert isinstance(done.search_time_ms, int)
    assert raw["queryContext"] == {"originalQuery": {"query": "狮子"}}
    assert len(raw["imageItems"]) == 20
    assert done.query_sent == "狮子"
    assert done.provider_ms > 0
    assert done.dropped_items == 0


def test_exclude_sites_are_honoured_by_the_answer(iqs_client: IqsClient) -> None:
    hits = hits_of(run(iqs_client, "lion", sites=("baidu.com",)))

    assert hits
    assert not [hit for hit in hits if "baidu.com" in hit.host_page_url]
    assert len(hits) == 9  # 11 of the document's 20 pages are on baidu.com hosts


def test_another_query_gets_20_generated_items(iqs_client: IqsClient) -> None:
    hits = hits_of(run(iqs_client, "red bicycle"))

    assert len(hits) == 20
    assert hits[2].title == 'Emulated result 3 for "red bicycle"'
    assert all(hit.width and hit.height for hit in hits)
    assert hits == hits_of(run(iqs_client, "red bicycle"))  # deterministic


def test_an_empty_answer_gives_no_hits(emulator: EmulatorHandle, iqs_client: IqsClient) -> None:
    emulator.set_fault("empty")

    events = run(iqs_client)

    assert hits_of(events) == []
    assert completed_of(events).dropped_items == 0


def test_partial_items_are_repaired_or_dropped_and_counted(
    emulator: EmulatorHandle, iqs_client: IqsClient
) -> None:
    emulator.set_fault("partial_items")

    events = run(iqs_client)

    hits = hits_of(events)
    assert completed_of(events).dropped_items == 2  # no imageUrl; a javascript: imageUrl
    assert len(hits) == 18
    by_page = {hit.rank: hit for hit in hits}
    assert by_page[1].width == 928  # sent as the string "928"
    assert by_page[2].published_time is None  # "sometime last spring"
    assert by_page[3].title == "mbd.baidu.com"  # title was null
    assert by_page[4].height is None  # height was missing
    assert (
        by_page[5].title == "Dao Quan - you sleeping lion of three years, is it time to wake up?!"
    )


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "status", "doc_message", "transient"), DOCUMENTED_ERRORS)
def test_each_documented_error_becomes_a_provider_error_with_a_sentence(
    emulator: EmulatorHandle,
    iqs_client: IqsClient,
    code: str,
    status: int,
    doc_message: str,
    transient: bool,
) -> None:
    emulator.set_fault(code)

    error = search_error(iqs_client)

    assert error.code == code
    assert error.status == status
    assert error.transient is transient
    assert error.provider_message == doc_message
    assert error.request_id
    assert error.message.endswith(".") and error.message != doc_message
    # Only throttling is worth another try; 403, 404 and the daily quota are tried once.
    assert len(searches(emulator)) == (3 if transient else 1)


def test_arrears_reads_as_a_plain_sentence(emulator: EmulatorHandle, iqs_client: IqsClient) -> None:
    emulator.set_fault("Retrieval.Arrears")

    error = search_error(iqs_client)

    assert str(error) == (
        "Retrieval.Arrears: The IQS account has an overdue balance; "
        "top it up in the Alibaba Cloud console."
    )


def test_throttling_is_retried_with_growing_backoff_then_fails(emulator: EmulatorHandle) -> None:
    waits: list[float] = []
    client = IqsClient(base_url=emulator.url, api_key="test-key", sleep=waits.append)
    emulator.set_fault("Retrieval.Throttling.User")

    error = search_error(client)

    assert error.code == "Retrieval.Throttling.User"
    assert len(searches(emulator)) == 3
    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 0.75  # base 0.25 s, doubling, jitter


def test_one_throttle_then_success_succeeds(
    emulator: EmulatorHandle, iqs_client: IqsClient
) -> None:
    emulator.set_fault("Retrieval.Throttling.User", count=1)

    events = run(iqs_client)

    assert len(hits_of(events)) == 20
    assert len(searches(emulator)) == 2
    assert Progress("retrying", "Retrieval.Throttling.User; try 2 of 3") in events


@pytest.mark.parametrize(
    ("fault", "code"), [("http_500", "InternalError"), ("http_503", "HTTP.503")]
)
def test_server_errors_are_retried_three_times_in_all(
    emulator: EmulatorHandle, iqs_client: IqsClient, fault: str, code: str
) -> None:
    emulator.set_fault(fault)

    error = search_error(iqs_client)

    assert error.code == code
    assert error.transient is True
    assert "temporary problem" in error.message
    assert len(searches(emulator)) == 3


def test_two_server_errors_then_success_succeeds(
    emulator: EmulatorHandle, iqs_client: IqsClient
) -> None:
    emulator.set_fault("http_503", count=2)

    assert len(hits_of(run(iqs_client))) == 20
    assert len(searches(emulator)) == 3


def test_max_tries_is_honoured(emulator: EmulatorHandle) -> None:
    client = IqsClient(base_url=emulator.url, api_key="k", max_tries=1, sleep=lambda s: None)
    emulator.set_fault("http_503")

    search_error(client)

    assert len(searches(emulator)) == 1


def test_a_dropped_connection_is_a_network_error_and_is_retried(
    emulator: EmulatorHandle, iqs_client: IqsClient
) -> None:
    emulator.set_fault("disconnect")

    error = search_error(iqs_client)

    assert error.code == "Network"
    assert error.transient is True
    assert len(searches(emulator)) == 3


def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = IqsClient(base_url=f"http://127.0.0.1:{port}", api_key="k", sleep=lambda s: None)

    error = search_error(client)

    assert error.code == "Network"
    assert "could not reach IQS" in error.message


# Timing is asserted only against the emulator's delay: a client that waited for the
# answer would take the full delay, one that honours its deadline takes far less.
def test_a_slow_answer_times_out_and_is_not_retried(emulator: EmulatorHandle) -> None:
    client = IqsClient(base_url=emulator.url, api_key="k", timeout=0.5, sleep=lambda s: None)
    emulator.set_fault("slow", delay=3)

    started = time.monotonic()
    error = search_error(client)

    assert time.monotonic() - started < 2.5
    assert error.code == "Timeout"
    assert error.transient is True
    assert len(searches(emulator)) == 1


def test_a_trickling_answer_hits_the_overall_deadline(emulator: EmulatorHandle) -> None:
    # Every chunk arrives well within a per-read timeout; only an overall deadline stops it.
    client = IqsClient(base_url=emulator.url, api_key="k", timeout=0.5, sleep=lambda s: None)
    emulator.set_fault("trickle")

    started = time.monotonic()
    error = search_error(client)

    assert time.monotonic() - started < 5  # the whole answer would take over a minute
    assert error.code == "Timeout"


@pytest.mark.parametrize("fault", ["malformed_json", "wrong_shape"])
def test_an_unreadable_answer_is_a_bad_response(
    emulator: EmulatorHandle, iqs_client: IqsClient, fault: str
) -> None:
    emulator.set_fault(fault)

    error = search_error(iqs_client)

    assert error.code == "BadResponse"
    assert error.transient is False
    assert len(searches(emulator)) == 1


# --- the key stays secret -----------------------------------------------------------------------


def test_the_key_is_not_in_the_answer_or_the_client(emulator: EmulatorHandle) -> None:
    client = IqsClient(base_url=emulator.url, api_key=SECRET, sleep=lambda s: None)

    done = completed_of(run(client))

    assert SECRET not in json.dumps(done.raw_response)
    assert SECRET not in repr(client)
    assert searches(emulator)[0].header("Authorization") == f"Bearer {SECRET}"


@pytest.mark.parametrize("fault", ["InvalidAccessKeyId.NotFound", "echo_key", "disconnect"])
def test_the_key_is_not_in_any_error(emulator: EmulatorHandle, fault: str) -> None:
    client = IqsClient(base_url=emulator.url, api_key=SECRET, sleep=lambda s: None)
    emulator.set_fault(fault)

    error = search_error(client)

    for text in (str(error), repr(error), error.message, error.provider_message):
        assert SECRET not in text
    if fault == "echo_key":  # the gateway did repeat it; we removed it
        assert error.provider_message == "Specified access key is not found: [redacted]"


# --- the emulator's side of the wire ------------------------------------------------------------


def post_search(
    emulator: EmulatorHandle, body: object, auth: str | None = "Bearer x"
) -> httpx.Response:
    headers = {"Authorization": auth} if auth is not None else {}
    return httpx.post(f"{emulator.url}/search/multimodal", json=body, headers=headers)


@pytest.mark.parametrize("auth", [None, "Bearer", "Basic abc"])
def test_the_emulator_wants_a_bearer_token(emulator: EmulatorHandle, auth: str | None) -> None:
    response = post_search(emulator, {"query": "lion"}, auth=auth)

    assert response.status_code == 404
    assert response.json()["code"] == "InvalidAccessKeyId.NotFound"
    assert response.json()["requestId"]


@pytest.mark.parametrize("body", [{"query": ""}, {"query": "x" * 51}, {"query": 5}, ["lion"]])
def test_the_emulator_refuses_a_bad_query(emulator: EmulatorHandle, body: object) -> None:
    response = post_search(emulator, body)

    assert response.status_code == 400
    assert response.json()["code"] == "InvalidParameter"


def test_the_emulator_excludes_subdomains_of_an_excluded_site(emulator: EmulatorHandle) -> None:
    body = {"query": "lion", "advancedParams": {"excludeSites": "baidu.com, sohu.com"}}

    items = post_search(emulator, body).json()["imageItems"]

    hosts = {httpx.URL(item["hostPageUrl"]).host for item in items}
    assert not {h for h in hosts if h.endswith(("baidu.com", "sohu.com"))}
    assert "www.bilibili.com" in hosts


def test_the_emulator_answers_in_the_documented_shape(emulator: EmulatorHandle) -> None:
    answer = post_search(emulator, {"query": "Lion"}).json()

    assert set(answer) == {"requestId", "imageItems", "searchInformation", "queryContext"}
    assert answer["queryContext"] == {"originalQuery": {"query": "Lion"}}
    assert set(answer["imageItems"][0]) == {
        "title", "publishedTime", "imageUrl", "hostPageUrl", "height", "width",
    }  # fmt: skip


def test_fault_control_over_http_counts_down(emulator: EmulatorHandle) -> None:
    control = f"{emulator.url}/_emulator/faults"
    assert httpx.post(control, json={"fault": "Retrieval.Arrears", "count": 2}).status_code == 200

    statuses = [post_search(emulator, {"query": "lion"}).status_code for _ in range(3)]

    assert statuses == [403, 403, 200]


def test_fault_control_refuses_an_unknown_fault_and_clears(emulator: EmulatorHandle) -> None:
    control = f"{emulator.url}/_emulator/faults"
    assert httpx.post(control, json={"fault": "no_such_fault"}).status_code == 400
    httpx.post(control, json={"fault": "http_500"})

    assert httpx.delete(control).status_code == 200
    assert post_search(emulator, {"query": "lion"}).status_code == 200


def test_a_query_prefix_injects_a_fault_for_demos(
    emulator: EmulatorHandle, iqs_client: IqsClient
) -> None:
    error = search_error(iqs_client, "emulate:Retrieval.NotActivate lion")

    assert error.code == "Retrieval.NotActivate"
    assert len(hits_of(run(iqs_client, "emulate:empty lion"))) == 0


def test_generated_items_link_to_an_emulated_page(iqs_client: IqsClient) -> None:
    hit = hits_of(run(iqs_client, "a quiet harbour"))[0]

    page = httpx.get(hit.host_page_url)

    assert page.status_code == 200
    assert "Loupe emulator" in page.text
