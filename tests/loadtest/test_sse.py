"""The load test's SSE reader: whole events out of pieces cut anywhere."""

from __future__ import annotations

from loadtest.sse import SseEvent, SseParser, shows_an_image

STREAM = (
    ": keep-alive\n\n"
    'event: results\ndata: <li class="card"><img src="/thumbs/a.jpg"></li>\n\n'
    "event: update\r\ndata: line one\r\ndata: line two\r\n\r\n"
    "data: 狮子, unnamed\n\n"
    "event: done\ndata: {}\n\n"
)
EXPECTED = [
    SseEvent("results", '<li class="card"><img src="/thumbs/a.jpg"></li>'),
    SseEvent("update", "line one\nline two"),
    SseEvent("message", "狮子, unnamed"),
    SseEvent("done", "{}"),
]


def test_it_reads_named_events_multi_line_data_and_skips_comments() -> None:
    assert SseParser().feed(STREAM.encode()) == EXPECTED


def test_it_gives_the_same_events_when_fed_one_byte_at_a_time() -> None:
    parser = SseParser()

    events = [event for byte in STREAM.encode() for event in parser.feed(bytes([byte]))]

    assert events == EXPECTED  # a CRLF and a UTF-8 character split between reads


def test_an_unfinished_event_waits_for_its_blank_line() -> None:
    parser = SseParser()

    assert parser.feed(b"event: done\ndata: {}\n") == []
    assert parser.feed(b"\n") == [SseEvent("done", "{}")]


def test_an_event_without_data_is_dropped_and_the_id_is_kept() -> None:
    parser = SseParser()

    assert parser.feed(b"event: update\n\nid: 7\nevent: done\ndata: x\n\n") == [
        SseEvent("done", "x", "7")
    ]


def test_a_first_image_is_a_card_with_its_picture() -> None:
    assert shows_an_image('<ul><li class="card"><button><img src="/t.jpg"></button></li></ul>')
    assert not shows_an_image('<ul class="grid"></ul><p>Searching…</p>')
    assert not shows_an_image('<li class="card">no picture yet</li>')
