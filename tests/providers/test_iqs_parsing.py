"""IQS parsing without a socket: the documents' examples, repairs, drops and error bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from webapp.providers.errors import ProviderError
from webapp.providers.iqs import (
    IQS_ERRORS,
    IqsRequest,
    build_request_body,
    error_from_response,
    parse_item,
    parse_response,
)

# The example responses of api-docs 000 (English) and 001 (Chinese), copied verbatim.
FIXTURES = Path(__file__).resolve().parents[2] / "webapp" / "emulator" / "fixtures"
BEIJING = timezone(timedelta(hours=8))

# (width, height) of the 20 items, in the documents' order (both documents agree).
DOC_SIZES = [
    (720, 1280), (928, 1232), (1280, 853), (934, 1121), (1080, 1441),
    (936, 1664), (1680, 1050), (928, 1664), (988, 2188), (936, 1664),
    (936, 1664), (720, 1280), (400, 711), (1621, 1050), (1778, 1280),
    (640, 934), (2560, 1440), (640, 960), (2000, 1125), (1918, 1280),
]  # fmt: skip


def doc_example(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return payload


def item(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "title": "A lion",
        "publishedTime": "2024-12-18T22:24:24+08:00",
        "imageUrl": "https://img.example.com/lion.jpg",
        "hostPageUrl": "https://news.example.com/lions",
        "height": 1330,
        "width": 1000,
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not ...}


# --- the documents' examples --------------------------------------------------------------


def test_it_parses_the_english_documents_example() -> None:
    parsed = parse_response(doc_example("iqs_lion.json"))

    assert len(parsed.hits) == 20
    assert parsed.dropped_items == 0
    assert parsed.request_id == "********"
    assert parsed.search_time_ms == 808
    assert parsed.original_query == "lion"
    first, last = parsed.hits[0], parsed.hits[-1]
    assert first.rank == 1
    assert first.title == (
        "A lion's life of battle hides countless legends of life-and-death struggles"
    )
    assert first.image_url.startswith("http://pic.rmb.bdstatic.com/bjh/bb9193e11fbc/")
    assert first.host_page_url.startswith("https://quanmin.baidu.com/sv?source=share-h5")
    assert first.published_time == datetime(2025, 4, 12, 12, 47, 54, tzinfo=BEIJING)
    assert last.rank == 20
    assert last.title.startswith("Why is business getting harder")
    assert [(hit.width, hit.height) for hit in parsed.hits] == DOC_SIZES


def test_it_parses_the_chinese_documents_example() -> None:
    parsed = parse_response(doc_example("iqs_shizi.json"))

    assert parsed.original_query == "狮子"
    assert parsed.hits[0].title == "狮子一生征战沙场,背后藏着无数生死搏斗的传奇"
    assert parsed.hits[16].title == "雄狮互相调情"
    assert [(hit.width, hit.height) for hit in parsed.hits] == DOC_SIZES


def test_published_times_are_aware_and_keep_their_offset() -> None:
    hits = parse_response(doc_example("iqs_lion.json")).hits

    assert all(hit.published_time is not None for hit in hits)
    assert all(
        hit.published_time.utcoffset() == timedelta(hours=8) for hit in hits if hit.published_time
    )


# --- repairs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1000, 1000), ("720", 720), (" 720 ", 720), (720.0, 720), ("720px", None),
     (True, None), (0, None), (-5, None), (None, None), (10**9, None), ([720], None)],
)  # fmt: skip
def test_it_repairs_or_empties_a_mistyped_width(raw: object, expected: int | None) -> None:
    hit = parse_item(item(width=raw), rank=1)

    assert hit is not None
    assert hit.width == expected


def test_a_missing_height_becomes_none() -> None:
    hit = parse_item(item(height=...), rank=1)

    assert hit is not None
    assert hit.height is None
    assert hit.width == 1000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-12-18T22:24:24+08:00", datetime(2024, 12, 18, 22, 24, 24, tzinfo=BEIJING)),
        ("2024-12-18T14:24:24Z", datetime(2024, 12, 18, 14, 24, 24, tzinfo=UTC)),
        # Without an offset it is read as Beijing time, like every documented value.
        ("2024-12-18 22:24:24", datetime(2024, 12, 18, 22, 24, 24, tzinfo=BEIJING)),
        (1734531864, datetime(2024, 12, 18, 14, 24, 24, tzinfo=UTC)),
        (1734531864000, datetime(2024, 12, 18, 14, 24, 24, tzinfo=UTC)),
        ("sometime last spring", None),
        ("", None),
        (None, None),
        (True, None),
        ({"at": "2024"}, None),
    ],
)
def test_it_reads_published_time_or_leaves_it_empty(raw: object, expected: datetime | None) -> None:
    hit = parse_item(item(publishedTime=raw), rank=1)

    assert hit is not None
    assert hit.published_time == expected
    assert hit.published_time is None or hit.published_time.tzinfo is not None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  A lion\n at  rest\t", "A lion at rest"),
        (42, "42"),
        (None, "news.example.com"),
        ("   ", "news.example.com"),
        (..., "news.example.com"),
    ],
)
def test_it_cleans_the_title_or_names_the_site(raw: object, expected: str) -> None:
    hit = parse_item(item(title=raw), rank=1)

    assert hit is not None
    assert hit.title == expected


def test_a_title_falls_back_to_the_image_host_without_a_page() -> None:
    hit = parse_item(item(title=None, hostPageUrl=None), rank=1)

    assert hit is not None
    assert hit.title == "img.example.com"
    assert hit.host_page_url == ""


def test_urls_are_stripped_and_protocol_relative_ones_get_https() -> None:
    hit = parse_item(
        item(imageUrl="  //cdn.example.com/a.jpg ", hostPageUrl=" http://x.cn/p "), rank=1
    )

    assert hit is not None
    assert hit.image_url == "https://cdn.example.com/a.jpg"
    assert hit.host_page_url == "http://x.cn/p"


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "file:///etc/passwd", "data:,x", "http://"])
def test_a_host_page_url_that_is_not_http_is_emptied(bad: str) -> None:
    hit = parse_item(item(hostPageUrl=bad), rank=1)

    assert hit is not None
    assert hit.host_page_url == ""


# --- drops --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image_url",
    [
        ...,
        None,
        "",
        "   ",
        42,
        "ftp://example.com/a.jpg",
        "javascript:alert(1)",
        "http://",
        "lion.jpg",
    ],
)
def test_an_item_without_a_usable_image_url_is_dropped(image_url: object) -> None:
    assert parse_item(item(imageUrl=image_url), rank=1) is None


def test_dropped_items_are_counted_and_ranks_stay_consecutive() -> None:
    payload = {
        "requestId": "r-1",
        "imageItems": [item(title="one"), item(imageUrl=None), "not an item", item(title="two")],
    }

    parsed = parse_response(payload)

    assert [(hit.rank, hit.title) for hit in parsed.hits] == [(1, "one"), (2, "two")]
    assert parsed.dropped_items == 2


def test_missing_search_information_and_query_context_are_left_empty() -> None:
    parsed = parse_response({"imageItems": [], "searchInformation": "fast", "queryContext": []})

    assert parsed.hits == []
    assert parsed.request_id == ""
    assert parsed.search_time_ms is None
    assert parsed.original_query == ""


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "lion",
        42,
        {},
        {"imageItems": None},
        {"imageItems": {"items": []}},
        {"imageItems": "x"},
    ],
)
def test_a_body_of_the_wrong_shape_is_a_bad_response(payload: object) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_response(payload)

    assert caught.value.code == "BadResponse"


# --- the request body -------------------------------------------------------------------------


def test_the_body_has_no_advanced_params_without_exclude_sites() -> None:
    assert build_request_body(IqsRequest(query="lion")) == {"query": "lion"}
    assert build_request_body(IqsRequest(query="lion", exclude_sites=(" ", ""))) == {
        "query": "lion"
    }


def test_exclude_sites_are_joined_with_commas() -> None:
    body = build_request_body(
        IqsRequest(query="狮子", exclude_sites=(" www.360doc.com", "weibo.com"))
    )

    assert body == {"query": "狮子", "advancedParams": {"excludeSites": "www.360doc.com,weibo.com"}}


@pytest.mark.parametrize("query", ["", "x" * 51])
def test_a_query_outside_1_to_50_characters_is_refused(query: str) -> None:
    with pytest.raises(ValueError, match="1 to 50"):
        build_request_body(IqsRequest(query=query))


def test_a_query_of_50_chinese_characters_is_accepted() -> None:
    assert build_request_body(IqsRequest(query="狮" * 50))["query"] == "狮" * 50


# --- error bodies -------------------------------------------------------------------------------


def test_the_error_table_covers_exactly_the_documented_codes() -> None:
    assert {code: status for code, (status, _, _) in IQS_ERRORS.items()} == {
        "InvalidAccessKeyId.NotFound": 404,
        "Retrieval.NotActivate": 403,
        "Retrieval.Arrears": 403,
        "Retrieval.NotAuthorised": 403,
        "Retrieval.TestUserPeriodExpired": 403,
        "Retrieval.Throttling.User": 429,
        "Retrieval.TestUserQueryPerDayExceeded": 429,
    }
    transient = {code for code, (_, _, is_transient) in IQS_ERRORS.items() if is_transient}
    assert transient == {"Retrieval.Throttling.User"}


@pytest.mark.parametrize(
    "body",
    [
        {"code": "Retrieval.Arrears", "message": "Please recharge first.", "requestId": "R1"},
        {"Code": "Retrieval.Arrears", "Message": "Please recharge first.", "RequestId": "R1"},
        {
            "errorCode": "Retrieval.Arrears",
            "errorMessage": "Please recharge first.",
            "request_id": "R1",
        },
        {
            "error": {"code": "Retrieval.Arrears", "message": "Please recharge first."},
            "requestId": "R1",
        },
    ],
)
def test_error_bodies_of_every_common_spelling_are_understood(body: dict[str, object]) -> None:
    error = error_from_response(403, json.dumps(body))

    assert error.code == "Retrieval.Arrears"
    assert error.message == (
        "The IQS account has an overdue balance; top it up in the Alibaba Cloud console."
    )
    assert error.status == 403
    assert error.request_id == "R1"
    assert error.provider_message == "Please recharge first."
    assert error.transient is False


@pytest.mark.parametrize(
    ("status", "text", "code", "transient"),
    [
        (503, "<html><h1>503 Service Temporarily Unavailable</h1></html>", "HTTP.503", True),
        (502, "", "HTTP.502", True),
        (500, '{"code": "InternalError", "message": "boom"}', "InternalError", True),
        (
            400,
            '{"code": "InvalidParameter", "message": "query too long"}',
            "InvalidParameter",
            False,
        ),
        (429, "{}", "HTTP.429", True),
        (418, "[1, 2]", "HTTP.418", False),
    ],
)
def test_unknown_errors_fall_back_to_the_status(
    status: int, text: str, code: str, transient: bool
) -> None:
    error = error_from_response(status, text)

    assert error.code == code
    assert error.transient is transient
    assert error.message.endswith(".")
    assert error.status == status
