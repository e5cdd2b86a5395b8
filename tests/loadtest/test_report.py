"""The load test's report: lost searches, errors by kind, percentiles and the verdict."""

from __future__ import annotations

import json

import pytest

from loadtest.report import (
    SearchLog,
    build_report,
    error_kind,
    exit_code,
    format_report,
    percentile,
)

ENDPOINT = {
    "method": "GET",
    "name": "/history/",
    "requests": 10,
    "failures": 0,
    "p50_ms": 12,
    "p95_ms": 40,
    "p99_ms": 55,
}


def a_log() -> SearchLog:
    log = SearchLog()
    log.submitted(1, kind="text", owner="loadtest-1", at=100.0)
    log.first_image(1, at=101.5)
    log.done(1, at=102.0)
    log.confirm(1, status="done", at=200.0)
    log.submitted(2, kind="image", owner="loadtest-2", at=100.0)
    log.first_image(2, at=104.0)
    log.first_image(2, at=109.0)  # only the first one counts
    log.confirm(2, status="partial", took=16.0, at=300.0)  # nobody saw it finish
    return log


def report_of(
    log: SearchLog, errors: list[tuple[str, str, int]] | None = None
) -> dict[str, object]:
    return build_report(
        log=log,
        endpoints=[ENDPOINT],
        errors=errors or [],
        requests_per_second=12.345,
        settings={"users": 2, "duration": "20s"},
    )


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 0.5, None), ([3.0], 0.99, 3.0), ([1, 2, 3, 4], 0.5, 2), ([*range(1, 101)], 0.95, 95)],
)
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("CatchResponseError('HTTP 502')", "HTTP 502"),
        ("HTTPError('500 Server Error: Internal Server Error for url: /history/')", "HTTP 500"),
        ("ConnectionError(ProtocolError('Connection aborted.'))", "ConnectionError"),
        ("ReadTimeout(ReadTimeoutError(\"HTTPConnectionPool(host='127.0.0.1')\"))", "ReadTimeout"),
        ("StreamError('the stream closed before its done event')", "StreamError"),
        ("something odd", "something odd"),
    ],
)
def test_errors_get_a_short_kind(error: str, kind: str) -> None:
    assert error_kind(error) == kind


def test_a_clean_run_passes_with_timings_per_kind() -> None:
    report = report_of(a_log())

    assert report["passed"] is True
    assert exit_code(report) == 0
    assert report["searches"] == {
        "submitted": 2,
        "finished": 2,
        "lost": 0,
        "by_status": {"done": 1, "partial": 1},
        "by_kind": {"image": 1, "text": 1},
    }
    timings = report["timings"]
    assert isinstance(timings, dict)
    assert timings["text"]["first_image_s"]["p50"] == 1.5
    assert timings["text"]["done_s"]["p99"] == 2.0
    assert timings["image"]["first_image_s"]["p95"] == 4.0
    assert timings["image"]["done_s"]["p50"] == 16.0  # the server's own figure
    json.dumps(report)  # the report file is JSON


def test_an_unfinished_search_is_lost_and_fails_the_run() -> None:
    log = a_log()
    log.submitted(3, kind="text", owner="loadtest-1", at=150.0)

    report = report_of(log)

    assert report["searches"]["lost"] == 1  # type: ignore[index]
    assert report["searches"]["by_status"]["unfinished"] == 1  # type: ignore[index]
    assert exit_code(report) == 1


def test_request_errors_and_failed_searches_fail_the_run() -> None:
    log = a_log()
    log.submitted(4, kind="image", owner="loadtest-2", at=150.0)
    log.confirm(4, status="failed", error_code="Throttling.RateQuota", at=160.0)

    report = report_of(
        log,
        [
            ("GET /history/", "CatchResponseError('HTTP 500')", 2),
            ("SSE /searches/[id]/live/ (stream)", "ChunkedEncodingError(ProtocolError())", 1),
        ],
    )

    assert report["errors"] == {
        "ChunkedEncodingError": 1,
        "HTTP 500": 2,
        "search failed (Throttling.RateQuota)": 1,
    }
    assert exit_code(report) == 1
    assert "2 x GET /history/: CatchResponseError('HTTP 500')" in format_report(report)


def test_the_printed_report_shows_the_figures() -> None:
    text = format_report(report_of(a_log()))

    assert "Requests/s overall: 12.35" in text
    assert "GET /history/" in text
    assert "2 submitted, 2 finished, 0 lost" in text
    assert "image submit to done" in text
    assert "Errors: none" in text
    assert text.rstrip().endswith("PASSED")
