"""Server-Sent Events, read the way a browser's EventSource reads them (WHATWG HTML, 9.2).

The stream arrives in arbitrary pieces: an event, a line, even a UTF-8
character may be split between two reads. ``SseParser.feed`` therefore keeps
what is incomplete and returns only whole events.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    event: str  # "message" when the stream named none, as EventSource does
    data: str  # the data lines joined with "\n"
    id: str = ""


class SseParser:
    """Feed it bytes as they come; it returns the events they complete."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # text after the last complete line
        self._event = ""
        self._data: list[str] = []
        self._id = ""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        self._pending += self._decoder.decode(chunk)
        events = []
        for line in self._complete_lines():
            event = self._take_line(line)
            if event is not None:
                events.append(event)
        return events

    def _complete_lines(self) -> list[str]:
        """Split off every complete line; lines end in CRLF, LF or CR."""
        lines = []
        text = self._pending
        start = 0
        while True:
            ends = [i for i in (text.find("\n", start), text.find("\r", start)) if i >= 0]
            if not ends:
                break
            end = min(ends)
            if text[end] == "\r" and end + 1 == len(text):
                break  # a CR at the very end may be half of a CRLF: wait for the next piece
            lines.append(text[start:end])
            start = end + (2 if text.startswith("\r\n", end) else 1)
        self._pending = text[start:]
        return lines

    def _take_line(self, line: str) -> SseEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: servers send them to keep the connection alive
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id" and "\0" not in value:
            self._id = value
        return None  # "retry" and unknown fields change nothing here

    def _dispatch(self) -> SseEvent | None:
        """A blank line ends an event; one with no data line is dropped, as the spec says."""
        event = SseEvent(self._event or "message", "\n".join(self._data), self._id)
        has_data = bool(self._data)
        self._event = ""
        self._data = []
        return event if has_data else None


def shows_an_image(html: str) -> bool:
    """True when this piece of the gallery holds a result card with its picture.

    The person sees a first image as soon as the page holds a card with an
    <img>; an empty grid or a "searching..." note does not count.
    """
    return 'class="card"' in html and "<img" in html
