"""The Qwen Responses API with the ``image_search`` tool: an image in, similar web images out.

Wire format (api-docs 004): ``POST {base}/responses`` with ``Authorization:
Bearer <key>`` and

    {"model": "qwen3.7-plus",
     "input": [{"role": "user", "content": [
         {"type": "input_text", "text": "Find landscape images with a similar style"},
         {"type": "input_image", "image_url": "https://... or data:image/jpeg;base64,..."}]}],
     "tools": [{"type": "image_search"}],
     "stream": true}

The streamed answer is server-sent events (``event:``/``data:`` lines, one JSON
object per event). The ones the document reads, and so the ones we use:

- ``response.output_item.added`` whose ``item.type`` is ``image_search_call``: the search began;
- ``response.output_item.done`` for that item: ``item.output`` is a JSON *string*
  holding ``[{"index", "title", "url"}, ...]``;
- ``response.output_text.delta``: ``delta``, the next piece of the model's answer;
- ``response.completed``: ``response.usage`` with ``input_tokens``,
  ``output_tokens``, ``total_tokens`` and ``x_tools: {"image_search": {"count": n}}``.

Every other event type is ignored, except the terminal ``response.failed``,
``response.incomplete`` and ``error`` of the OpenAI-compatible protocol. A
server that ignores ``stream`` and answers one JSON response object (the
document's non-streaming shape) gives the same events.

Invariants:
- A search never outlives ``timeout`` seconds in all (every try, every backoff,
  however the server trickles bytes), and a stream that goes ``idle_timeout``
  seconds without a line is given up.
- A try is repeated only when it failed before the first event arrived, and only
  for throttling, 5xx and dropped connections. Once part of a stream has been
  read, repeating it would show its images twice and bill the tool call twice,
  so a stream cut midway raises ``StreamInterrupted`` after its hits and text
  have been yielded.
- At most ``MAX_IMAGES`` (100, the document's maximum) images per search.
- The API key goes into one header and nowhere else: not into an error, a log
  line or ``Completed.raw_response``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx

from webapp.providers.bounded_http import first_str
from webapp.providers.errors import ProviderError
from webapp.providers.events import (
    Completed,
    HitsFound,
    ImageHit,
    Progress,
    ProviderEvent,
    TextDelta,
)

logger = logging.getLogger(__name__)

RESPONSES_PATH = "/responses"
TOOL_TYPE = "image_search"
CALL_TYPE = "image_search_call"
MAX_IMAGES = 100  # api-docs 004: "The quantity is not fixed, but the maximum is 100 images."
# api-docs 004, Billing: CNY 48 per 1,000 calls in the Chinese mainland and global
# deployments (CNY 58.713905 for international ones: pass tool_price_per_1k).
TOOL_PRICE_CNY_PER_1K_CALLS = Decimal("48")
COST_QUANTUM = Decimal("0.00001")  # Search.cost_cny keeps 5 decimal places
MAX_STREAM_BYTES = 16 * 1024 * 1024  # 100 images and an answer are ~100 KB
MAX_LINE_BYTES = 4 * 1024 * 1024  # response.completed repeats the whole output on one line
MAX_ERROR_BODY_BYTES = 64 * 1024
BACKOFF_BASE_SECONDS = 0.5
_MIN_TRY_SECONDS = 1.0  # no point starting a try with less time than this left
_REDACTED = "[redacted]"
_MIN_SCRUBBED_KEY = 8
_RAW_STRING_MAX = 2000  # longer data: URLs are elided from raw_response
_CONTENT_TYPE = re.compile(r"^image/[a-z0-9][a-z0-9.+\-]*$")
_DATA_URL = re.compile(r"^data:image/[a-z0-9][a-z0-9.+\-]*;base64,[A-Za-z0-9+/=]+$")
# Codes that name trouble on the server's side, whatever the HTTP status (or none, mid-stream).
_SERVER_TROUBLE_CODES = frozenset({"internalerror", "internal_error", "server_error"})
_REQUEST_ID_HEADERS = ("x-request-id", "x-dashscope-request-id", "request-id")

# Our own codes, for failures the server never named: code -> (sentence, transient).
OWN_ERRORS: dict[str, tuple[str, bool]] = {
    "Timeout": (
        "The image search service (DashScope) did not answer in time; try again in a moment.",
        True,
    ),
    "Network": (
        "Loupe could not reach the image search service (DashScope); check the network "
        "and try again.",
        True,
    ),
    "BadResponse": (
        "The image search service (DashScope) sent an answer Loupe could not read; "
        "try again later.",
        False,
    ),
}

# Error codes DashScope names in its error bodies (both the OpenAI-compatible
# {"error": {"code": ...}} and its own {"code": ...} shape), lower-cased:
# code -> (sentence, transient). Anything else is decided by the HTTP status.
DASHSCOPE_ERRORS: dict[str, tuple[str, bool]] = {
    "invalid_api_key": (
        "The DashScope API key was refused; check DASHSCOPE_API_KEY.",
        False,
    ),
    "invalidapikey": (
        "The DashScope API key was refused; check DASHSCOPE_API_KEY.",
        False,
    ),
    "arrearage": (
        "The DashScope account has an overdue balance; top it up in the Alibaba Cloud console.",
        False,
    ),
    "data_inspection_failed": (
        "DashScope's content inspection refused the image or the text; try another image.",
        False,
    ),
    "datainspectionfailed": (
        "DashScope's content inspection refused the image or the text; try another image.",
        False,
    ),
    "model_not_found": (
        "The model is not available to this DashScope account; check DASHSCOPE_MODEL.",
        False,
    ),
}


class StreamInterrupted(ProviderError):
    """The stream stopped before ``response.completed``; what arrived was yielded and is kept.

    ``hits_received`` and ``answer_text`` say what that was, so the caller can
    end the search as ``partial`` with the reason in ``message``.
    """

    keeps_results = True

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        hits_received: int = 0,
        answer_text: str = "",
        request_id: str = "",
        provider_message: str = "",
    ) -> None:
        super().__init__(
            "StreamInterrupted",
            message,
            transient=False,  # a second run would bill and show the same images again
            request_id=request_id,
            provider_message=provider_message,
        )
        self.reason = reason
        self.hits_received = hits_received
        self.answer_text = answer_text


@dataclass(frozen=True)
class ImageSearchRequest:
    image_url: str  # a data: URL (base64) or an http(s) URL the provider can fetch
    text: str = ""  # optional instruction, e.g. "find landscapes in this style"


def own_error(code: str, detail: str = "", *, status: int | None = None) -> ProviderError:
    sentence, transient = OWN_ERRORS[code]
    return ProviderError(
        code, sentence, status=status, transient=transient, provider_message=detail
    )


# --- the request ----------------------------------------------------------------------------------


def image_to_data_url(data: bytes, content_type: str) -> str:
    """``data:<type>;base64,<data>``, the way the document's "file input methods" pass a file."""
    kind = content_type.strip().lower()
    if not _CONTENT_TYPE.fullmatch(kind):
        raise ValueError(f"not an image content type: {content_type!r}")
    if not data:
        raise ValueError("no image data")
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def build_request_body(request: ImageSearchRequest, *, model: str) -> dict[str, Any]:
    """The JSON body of api-docs 004, with ``stream: true``.

    ``input_text`` is left out when there is no text: the document says the
    input "must contain image content" and that text "can also" be passed, so
    the image alone is a complete request, and an empty text part would only be
    noise to the model. When present, the text comes first, as in the document.
    """
    if not model.strip():
        raise ValueError("a model name is needed")
    image_url = request.image_url.strip()
    if not _is_data_url(image_url) and not _is_web_url(image_url):
        raise ValueError("image_url must be a base64 data:image/... URL or an http(s) URL")
    content: list[dict[str, str]] = []
    if request.text.strip():
        content.append({"type": "input_text", "text": request.text.strip()})
    content.append({"type": "input_image", "image_url": image_url})
    return {
        "model": model.strip(),
        "input": [{"role": "user", "content": content}],
        "tools": [{"type": TOOL_TYPE}],
        "stream": True,
    }


def _is_data_url(value: str) -> bool:
    # A regex over megabytes of base64 is linear and quick; it refuses anything else.
    return _DATA_URL.fullmatch(value) is not None


def _is_web_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# --- cost -----------------------------------------------------------------------------------------


def estimate_cost_cny(
    *,
    tool_calls: int,
    input_tokens: int,
    output_tokens: int,
    input_price_per_1k: float | Decimal,
    output_price_per_1k: float | Decimal,
    tool_price_per_1k: float | Decimal = TOOL_PRICE_CNY_PER_1K_CALLS,
) -> Decimal:
    """Tool calls at CNY 48 per 1,000 (api-docs 004) plus tokens at the model's rates.

    The document bills the image search results as ordinary input tokens, so
    they are in ``input_tokens`` already. Prices are per 1,000 calls or tokens.
    """
    counts = {
        "tool_calls": tool_calls,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
    }
    for name, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{name} must be a whole number of at least 0")
    prices = [
        _price(value, name)
        for name, value in (
            ("tool_price_per_1k", tool_price_per_1k),
            ("input_price_per_1k", input_price_per_1k),
            ("output_price_per_1k", output_price_per_1k),
        )
    ]
    total = (prices[0] * tool_calls + prices[1] * input_tokens + prices[2] * output_tokens) / 1000
    return total.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


def _price(value: float | Decimal, name: str) -> Decimal:
    # str() first: Decimal(0.1) would carry binary noise into the estimate.
    price = value if isinstance(value, Decimal) else Decimal(str(value))
    if not price.is_finite() or price < 0:
        raise ValueError(f"{name} must be a price of at least 0")
    return price


# --- server-sent events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Malformed:
    """The data of an event that was not JSON: skipped and counted, never fatal."""

    text: str
    error: str


def parse_sse_lines(lines: Iterable[str]) -> Iterator[tuple[str, object]]:
    """(event type, decoded data) for each server-sent event in ``lines``.

    Follows the SSE rules: ``field: value`` lines (one leading space dropped),
    several ``data`` lines joined by newlines, ``:`` comments ignored, a blank
    line ends an event. The type is the data's own ``"type"``, as the
    document's SDK reads it (``event.type``), else the ``event:`` field. Data
    that is not JSON comes as ``Malformed``. An OpenAI-style ``[DONE]`` is
    skipped. An event the stream ended in the middle of is dropped, unless its
    data is complete JSON (a server that forgot the last blank line).
    """
    name = ""
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                event = _sse_event(name, data)
                if event is not None:
                    yield event
            name, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        # "id", "retry" and unknown fields mean nothing to this API.
    if data:
        event = _sse_event(name, data)
        if event is not None and not isinstance(event[1], Malformed):
            yield event


def _sse_event(name: str, data: list[str]) -> tuple[str, object] | None:
    text = "\n".join(data)
    if text.strip() == "[DONE]":
        return None
    try:
        payload: object = json.loads(text)
    except ValueError as exc:
        return name, Malformed(text[:200], str(exc))
    if isinstance(payload, dict) and isinstance(payload.get("type"), str):
        return payload["type"], payload
    return name, payload


# --- from events to hits and text -----------------------------------------------------------------


class ImageSearchStream:
    """Turns one response's events into provider events. No I/O.

    The client feeds it what arrives (``feed``); the parsing tests feed it a
    recording. Once ``finished``, the last event it returned was ``Completed``.
    """

    def __init__(
        self,
        *,
        query_sent: str = "",
        request_id: str = "",
        max_images: int = MAX_IMAGES,
        scrub: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.query_sent = query_sent
        self.request_id = request_id
        self.max_images = max_images
        self.scrub = scrub
        self.events_received = 0
        self.malformed_events = 0
        self.finished = False
        self.response_id = ""
        self.hits_sent = 0
        self.dropped_items = 0
        self.capped_items = 0
        self._calls_started: set[str] = set()
        self._calls_done: set[str] = set()
        self._urls: set[str] = set()
        self._deltas: list[str] = []
        self._text_items: set[str] = set()  # message items whose text was yielded
        self._writing = False

    @property
    def answer_so_far(self) -> str:
        return "".join(self._deltas)

    @property
    def search_calls(self) -> int:
        return len(self._calls_started | self._calls_done)

    def feed(self, event_type: str, data: object) -> list[ProviderEvent]:
        """The provider events for one stream event; raises on a terminal failure."""
        self.events_received += 1
        if isinstance(data, Malformed):
            self.malformed_events += 1
            logger.warning("skipped a %s event whose data is not JSON", event_type or "stream")
            return []
        if not isinstance(data, dict) or self.finished:
            return []
        if event_type in ("response.created", "response.in_progress"):
            self._note_response(data.get("response"))
            return []
        if event_type == "response.output_item.added":
            return self._item_added(data.get("item"), data.get("output_index"))
        if event_type == "response.output_item.done":
            return self._item_done(data.get("item"), data.get("output_index"))
        if event_type == "response.output_text.delta":
            delta = data.get("delta")
            if not isinstance(delta, str) or not delta:
                return []
            self._text_items.add(_key(data.get("item_id"), data.get("output_index")))
            return self._text(delta)
        if event_type == "response.output_text.done":
            return self._whole_text(data.get("item_id"), data.get("output_index"), data.get("text"))
        if event_type in ("response.completed", "response.incomplete"):
            return self._complete(
                data.get("response"), incomplete=event_type.endswith("incomplete")
            )
        if event_type == "response.failed":
            response = data.get("response")
            error = response.get("error") if isinstance(response, dict) else None
            raise self._failure(error if isinstance(error, dict) else {})
        if event_type == "error":  # {"type": "error", "code", "message"}: not a code itself
            raise self._failure({key: value for key, value in data.items() if key != "type"})
        return []  # the many other event types carry nothing we show

    def feed_response(self, payload: dict[str, Any]) -> list[ProviderEvent]:
        """A whole, non-streamed response object: as if it had been streamed."""
        if payload.get("status") == "failed":
            error = payload.get("error")
            raise self._failure(error if isinstance(error, dict) else {})
        return self._complete(payload, incomplete=payload.get("status") == "incomplete")

    def interrupted(self, reason: str, detail: str = "") -> StreamInterrupted:
        """The error for a stream that stopped early, saying what is kept."""
        answer = self.answer_so_far
        kept = _kept_phrase(self.hits_sent, bool(answer))
        return StreamInterrupted(
            f"The image search was cut off before it finished ({reason}); {kept}.",
            reason=reason,
            hits_received=self.hits_sent,
            answer_text=answer,
            request_id=self.request_id,
            provider_message=self.scrub(detail)[:500],
        )

    # --- items ---------------------------------------------------------------------------

    def _note_response(self, response: object) -> None:
        if isinstance(response, dict) and isinstance(response.get("id"), str):
            self.response_id = self.response_id or response["id"]

    def _item_added(self, item: object, output_index: object) -> list[ProviderEvent]:
        if not isinstance(item, dict) or item.get("type") != CALL_TYPE:
            return []
        key = _key(item.get("id"), output_index)
        if key in self._calls_started:
            return []
        self._calls_started.add(key)
        number = len(self._calls_started)
        return [Progress("searching", f"search {number}" if number > 1 else "")]

    def _item_done(self, item: object, output_index: object) -> list[ProviderEvent]:
        if not isinstance(item, dict):
            return []
        if item.get("type") == "message":
            return self._message_text(item, output_index)
        if item.get("type") != CALL_TYPE:
            return []
        key = _key(item.get("id"), output_index)
        if key in self._calls_done:
            return []
        events = [] if key in self._calls_started else self._item_added(item, output_index)
        self._calls_done.add(key)
        images = self._images_of(item.get("output"))
        hits = self._hits(images)
        if hits:
            events.append(HitsFound(hits))
        return events

    def _images_of(self, output: object) -> list[object]:
        """``output``: a JSON string of [{index, title, url}] per the document (a list is fine)."""
        if output is None or output == "":
            return []  # a failed or empty search
        if isinstance(output, str):
            try:
                output = json.loads(output)
            except ValueError:
                self.malformed_events += 1
                logger.warning("skipped an image_search_call whose output is not JSON")
                return []
        if isinstance(output, dict):  # tolerate {"images": [...]}-like wrappers
            output = next((v for v in output.values() if isinstance(v, list)), [])
        if not isinstance(output, list):
            self.malformed_events += 1
            return []
        return output

    def _hits(self, images: list[object]) -> list[ImageHit]:
        hits: list[ImageHit] = []
        for image in images:
            fields = image if isinstance(image, dict) else {}
            url = _clean_url(fields.get("url"))
            if not url or url in self._urls:
                self.dropped_items += 1  # no usable http(s) url, or shown already
                continue
            if self.hits_sent + len(hits) >= self.max_images:
                self.dropped_items += 1
                self.capped_items += 1
                continue
            self._urls.add(url)
            hits.append(
                ImageHit(
                    rank=self.hits_sent + len(hits) + 1,
                    title=_clean_text(fields.get("title")) or (urlsplit(url).hostname or ""),
                    image_url=url,
                )
            )
        self.hits_sent += len(hits)
        return hits

    # --- text ------------------------------------------------------------------------------

    def _text(self, text: str) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        if not self._writing:
            self._writing = True
            events.append(Progress("writing"))
        self._deltas.append(text)
        events.append(TextDelta(text))
        return events

    def _whole_text(
        self, item_id: object, output_index: object, text: object
    ) -> list[ProviderEvent]:
        """A whole text (``output_text.done``, a finished message) that no delta carried."""
        key = _key(item_id, output_index)
        if not isinstance(text, str) or not text:
            return []
        if key in self._text_items or text in self.answer_so_far:
            return []  # the deltas carried it already (perhaps under another key)
        self._text_items.add(key)
        return self._text(text)

    def _message_text(self, item: dict[str, Any], output_index: object) -> list[ProviderEvent]:
        return self._whole_text(item.get("id"), output_index, _message_output_text(item))

    # --- the end -------------------------------------------------------------------------------

    def _complete(self, response: object, *, incomplete: bool) -> list[ProviderEvent]:
        response = response if isinstance(response, dict) else {}
        self._note_response(response)
        events: list[ProviderEvent] = []
        output = response.get("output")
        final_text_parts: list[str] = []
        for index, item in enumerate(output if isinstance(output, list) else []):
            if not isinstance(item, dict):
                continue
            # Items the stream never finished (or a non-streamed answer) are read here.
            events.extend(self._item_done(item, index))
            if item.get("type") == "message":
                final_text_parts.append(_message_output_text(item))
        usage = response.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        counted = _tool_count(usage.get("x_tools"))
        tool_calls = counted if counted is not None else self.search_calls
        no_tool_call = self.search_calls == 0 and tool_calls == 0
        if no_tool_call:
            events.append(
                Progress("no_tool_call", "The model answered without searching for images.")
            )
        if incomplete:
            details = response.get("incomplete_details")
            why = _clean_text(details.get("reason")) if isinstance(details, dict) else ""
            events.append(Progress("incomplete", why or "the model stopped early"))
        answer = "".join(final_text_parts) or self.answer_so_far
        self.finished = True
        events.append(
            Completed(
                request_id=self.request_id or self.response_id,
                query_sent=self.query_sent,
                dropped_items=self.dropped_items,
                raw_response=_raw(response, self.scrub),
                input_tokens=_count(usage.get("input_tokens")),
                output_tokens=_count(usage.get("output_tokens")),
                total_tokens=_count(usage.get("total_tokens")),
                tool_calls=tool_calls,
                response_id=self.response_id,
                answer_text=answer,
                no_tool_call=no_tool_call,
                malformed_events=self.malformed_events,
                capped_items=self.capped_items,
            )
        )
        return events

    def _failure(self, error: dict[str, Any]) -> ProviderError:
        """``response.failed`` or ``error``: partial when something was shown, else failed."""
        code, message, _ = _error_fields(error)
        message = self.scrub(message)
        if self.hits_sent or self.answer_so_far:
            return self.interrupted(f"DashScope reported {code or 'an error'}", message)
        sentence, transient = _sentence_for(code, None, message)
        return ProviderError(
            code or "ResponseFailed",
            sentence,
            transient=transient,
            request_id=self.request_id,
            provider_message=message[:500],
        )


def _key(item_id: object, output_index: object) -> str:
    if isinstance(item_id, str) and item_id:
        return item_id
    return f"#{output_index}"


def _message_output_text(item: dict[str, Any]) -> str:
    content = item.get("content")
    parts = content if isinstance(content, list) else []
    return "".join(
        part["text"]
        for part in parts
        if isinstance(part, dict)
        and part.get("type") == "output_text"
        and isinstance(part.get("text"), str)
    )


def _tool_count(x_tools: object) -> int | None:
    """``usage.x_tools.image_search.count``, None when the server gave no count."""
    if not isinstance(x_tools, dict):
        return None
    info = x_tools.get(TOOL_TYPE)
    if not isinstance(info, dict):
        return None
    return _count(info.get("count"))


def _kept_phrase(hits: int, has_text: bool) -> str:
    images = f"the {hits} image{'s' if hits != 1 else ''}"
    if hits and has_text:
        return f"{images} and the text that arrived are kept"
    if hits:
        return f"{images} that arrived {'are' if hits != 1 else 'is'} kept"
    if has_text:
        return "the text that arrived is kept"
    return "nothing had arrived yet"


def _raw(response: dict[str, Any], scrub: Callable[[str], str]) -> dict[str, Any]:
    """The response object to keep: no echoed input, no megabytes of base64, no key."""
    kept = {key: value for key, value in response.items() if key != "input"}
    cleaned = _shrink(kept, scrub)
    return cleaned if isinstance(cleaned, dict) else {}


def _shrink(value: object, scrub: Callable[[str], str]) -> object:
    if isinstance(value, dict):
        return {str(key): _shrink(item, scrub) for key, item in value.items()}
    if isinstance(value, list):
        return [_shrink(item, scrub) for item in value]
    if isinstance(value, str):
        if value.startswith("data:") and len(value) > _RAW_STRING_MAX:
            return f"{value[:40]}…({len(value)} characters elided)"
        return scrub(value)
    return value


def _clean_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return " ".join(str(value).split())


def _clean_url(value: object) -> str:
    if not isinstance(value, str):
        return ""
    url = value.strip()
    if url.startswith("//"):  # protocol-relative; the gallery fetches over https
        url = "https:" + url
    return url if _is_web_url(url) else ""


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


# --- errors ---------------------------------------------------------------------------------------


def error_from_response(status: int, text: str, *, request_id: str = "") -> ProviderError:
    """Map a failed HTTP answer to a ProviderError with a sentence a person can act on.

    api-docs 004 shows no error body. DashScope's OpenAI-compatible endpoints
    answer ``{"error": {"code", "message", "type"}, "request_id"}``; its own
    API answers ``{"code", "message", "request_id"}``. Both are read; without a
    code the HTTP status decides (``HTTP.503``).
    """
    try:
        body: object = json.loads(text)
    except ValueError:
        body = None
    code, provider_message, body_request_id = _error_fields(body)
    if not provider_message and body is None:
        provider_message = " ".join(text.split())[:200]
    sentence, transient = _sentence_for(code, status, provider_message)
    return ProviderError(
        code or f"HTTP.{status}",
        sentence,
        status=status,
        transient=transient,
        request_id=body_request_id or request_id,
        provider_message=provider_message[:500],
    )


def _sentence_for(code: str, status: int | None, provider_message: str) -> tuple[str, bool]:
    known = DASHSCOPE_ERRORS.get(code.lower())
    if known is not None:
        return known
    if status == 401:
        return DASHSCOPE_ERRORS["invalid_api_key"]
    if status == 403:
        return (
            "DashScope refused access to this model or to the image_search tool; check the "
            "account's permissions and balance in the Model Studio console.",
            False,
        )
    if status == 429 or "throttl" in code.lower() or code.lower().startswith("limit_"):
        return (
            "DashScope is receiving too many requests from this account; try again in a moment.",
            True,
        )
    if (status is not None and status >= 500) or code.lower() in _SERVER_TROUBLE_CODES:
        where = f" (HTTP {status})" if status is not None else ""
        return f"DashScope had a temporary problem{where}; try again in a moment.", True
    said = provider_message.strip().rstrip(".")
    detail = f": {said[:200]}" if said else ""
    if status is None:
        return f"The image search failed at DashScope{detail}.", False
    return f"DashScope did not accept the image search (HTTP {status}){detail}.", False


def _error_fields(body: object) -> tuple[str, str, str]:
    """(code, message, request id) from an error body of either shape."""
    if not isinstance(body, dict):
        return "", "", ""
    nested = body.get("error")
    fields = {**body, **nested} if isinstance(nested, dict) else body
    code = first_str(fields, "code", "Code", "type")
    message = first_str(fields, "message", "Message", "msg")
    request_id = first_str(body, "request_id", "requestId", "RequestId")
    return code, message, request_id


# --- the transport: a reader thread, so deadlines hold whatever the server does -------------------


@dataclass(frozen=True)
class _Head:
    status: int
    content_type: str
    request_id: str
    error_text: str = ""  # the body of a failed answer (bounded)


@dataclass(frozen=True)
class _Line:
    text: str
    arrived: float  # time.monotonic() when its bytes were read


class _End:
    """The body ended cleanly."""


class _TooLarge(Exception):
    pass


class _Broken(Exception):
    """Reading stopped: ``kind`` is "closed", "idle", "deadline" or "too_large"."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class _LineSplitter:
    """Bytes in, text lines out; a line split across chunks (or a UTF-8 character) is kept whole."""

    def __init__(self, max_line: int) -> None:
        self._buffer = bytearray()
        self._max_line = max_line

    def feed(self, chunk: bytes) -> list[str]:
        if b"\n" not in chunk:  # the middle of a long line: no need to split it again
            self._buffer += chunk
            if len(self._buffer) > self._max_line:
                raise _TooLarge(f"a line longer than {self._max_line} bytes")
            return []
        *complete, rest = (bytes(self._buffer) + chunk).split(b"\n")
        if len(rest) > self._max_line:
            raise _TooLarge(f"a line longer than {self._max_line} bytes")
        self._buffer = bytearray(rest)
        return [line.decode("utf-8", errors="replace").rstrip("\r") for line in complete]

    def close(self) -> list[str]:
        rest, self._buffer = bytes(self._buffer), bytearray()
        return [rest.decode("utf-8", errors="replace").rstrip("\r")] if rest else []


class _LineFeed:
    """One POST, read in a helper thread that hands lines over a queue.

    httpx's timeouts are per socket operation, so a server that trickles a
    byte at a time could hold a read for ever; waiting on the queue instead
    lets the caller keep both the overall deadline and the idle limit. Once
    abandoned, the thread stops at its next chunk, or when one socket read
    times out (``idle_timeout``), whichever comes first.
    """

    def __init__(
        self,
        http: httpx.Client,
        url: str,
        body: bytes,
        headers: dict[str, str],
        timeout: httpx.Timeout,
    ) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._abandoned = threading.Event()
        self.last_line_at = time.monotonic()
        self._thread = threading.Thread(
            target=self._read,
            args=(http, url, body, headers, timeout),
            name="responses-stream",
            daemon=True,
        )
        self._thread.start()

    def abandon(self) -> None:
        self._abandoned.set()

    def head(self, deadline: float) -> _Head:
        """The status line and headers (connect, upload and first byte are httpx's to time)."""
        item = self._get(deadline, idle=None)
        if isinstance(item, _Head):
            return item
        if isinstance(item, BaseException):
            raise item
        raise _Broken("closed", "no answer")

    def lines(self, deadline: float, idle: float) -> Iterator[str]:
        while True:
            item = self._get(deadline, idle)
            if isinstance(item, _Line):
                self.last_line_at = item.arrived  # provider time, not the caller's
                yield item.text
            elif isinstance(item, _End):
                return
            elif isinstance(item, _TooLarge):
                raise _Broken("too_large", str(item))
            elif isinstance(item, httpx.TimeoutException):
                raise _Broken("idle", f"{type(item).__name__}: {item}")
            elif isinstance(item, BaseException):
                raise _Broken("closed", f"{type(item).__name__}: {item}")

    def _get(self, deadline: float, idle: float | None) -> object:
        left = deadline - time.monotonic()
        wait = left if idle is None else min(left, idle)
        if wait <= 0:
            raise _Broken("deadline")
        try:
            return self._queue.get(timeout=wait)
        except queue.Empty:
            raise _Broken("deadline" if wait >= left else "idle") from None

    def _read(
        self,
        http: httpx.Client,
        url: str,
        body: bytes,
        headers: dict[str, str],
        timeout: httpx.Timeout,
    ) -> None:
        put = self._queue.put
        try:
            with http.stream("POST", url, content=body, headers=headers, timeout=timeout) as answer:
                request_id = next(
                    (answer.headers[h] for h in _REQUEST_ID_HEADERS if h in answer.headers), ""
                )
                content_type = answer.headers.get("content-type", "")
                if not 200 <= answer.status_code < 300:
                    text = self._bounded_text(answer)
                    put(_Head(answer.status_code, content_type, request_id, text))
                    return
                put(_Head(answer.status_code, content_type, request_id))
                splitter = _LineSplitter(MAX_LINE_BYTES)
                size = 0
                for chunk in answer.iter_bytes():
                    if self._abandoned.is_set():
                        return  # leaving the with-block closes the connection
                    size += len(chunk)
                    if size > MAX_STREAM_BYTES:
                        raise _TooLarge(f"an answer larger than {MAX_STREAM_BYTES} bytes")
                    arrived = time.monotonic()
                    for line in splitter.feed(chunk):
                        put(_Line(line, arrived))
                for line in splitter.close():
                    put(_Line(line, time.monotonic()))
            put(_End())
        except BaseException as exc:  # handed to the waiting generator, which decides
            put(exc)

    def _bounded_text(self, answer: httpx.Response) -> str:
        chunks: list[bytes] = []
        size = 0
        for chunk in answer.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_ERROR_BODY_BYTES or self._abandoned.is_set():
                break
        return b"".join(chunks)[:MAX_ERROR_BODY_BYTES].decode("utf-8", errors="replace")


@cache
def _shared_http(pid: int) -> httpx.Client:
    """One pooled client per process (keyed by pid: a forked worker must not share sockets)."""
    # No cap on connections: a worker streams up to WORKER_CONCURRENCY searches at once,
    # and httpx's default of 100 would queue the rest inside the client, unseen.
    return httpx.Client(
        follow_redirects=False,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
    )


@dataclass
class _Try:
    started: float
    events_received: int = 0


# --- the client -----------------------------------------------------------------------------------


class ResponsesClient:
    """One Responses endpoint, key and model. Cheap to build: searches share a pooled client."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str = "qwen3.7-plus",
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        max_tries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if min(timeout, connect_timeout, idle_timeout) <= 0 or max_tries < 1:
            raise ValueError("timeouts must be positive and max_tries at least 1")
        self._url = base_url.rstrip("/") + RESPONSES_PATH
        self._api_key = api_key
        self._model = model
        self._timeout = timeout
        self._idle_timeout = idle_timeout
        self._http_timeout = httpx.Timeout(
            connect=connect_timeout, read=idle_timeout, write=idle_timeout, pool=connect_timeout
        )
        self._max_tries = max_tries
        self._sleep = sleep
        # A transport (tests) gets a client of its own; otherwise searches share one
        # pooled client per process, so TLS sessions to DashScope are reused.
        self._own_http = httpx.Client(transport=transport) if transport is not None else None

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return (
            f"ResponsesClient(url={self._url!r}, model={self._model!r}, "
            f"timeout={self._timeout}, max_tries={self._max_tries})"
        )

    def search(self, request: ImageSearchRequest) -> Iterator[ProviderEvent]:
        """Progress("sent"), then hits and text as they stream in, then Completed.

        Raises ProviderError when the call fails as a whole, and
        StreamInterrupted when it stops midway (after yielding what arrived).
        """
        body = json.dumps(build_request_body(request, model=self._model), ensure_ascii=False)
        payload = body.encode("utf-8")
        http = self._own_http or _shared_http(os.getpid())
        # The deadline starts at the first next(), not when the generator was made.
        deadline = time.monotonic() + self._timeout
        earlier_ms = 0.0
        for attempt in range(1, self._max_tries + 1):
            state = _Try(started=time.monotonic())
            try:
                yield from self._one_try(http, payload, request, deadline, state, earlier_ms)
                return
            except ProviderError as error:
                earlier_ms += (time.monotonic() - state.started) * 1000
                if state.events_received:
                    raise  # part of the answer was read: never ask twice
                delay = self._retry_delay(error, attempt, deadline)
                if delay is None:
                    raise
                logger.info(
                    "image search %s on try %d of %d; retrying",
                    error.code,
                    attempt,
                    self._max_tries,
                )
                yield Progress("retrying", f"{error.code}; try {attempt + 1} of {self._max_tries}")
                self._sleep(delay)
        raise AssertionError("unreachable: the last try either returns or raises")

    def _retry_delay(self, error: ProviderError, attempt: int, deadline: float) -> float | None:
        """Seconds before the next try, or None to stop.

        Only throttling, 5xx and a dropped connection are tried again. A timeout
        is not: the server may still be searching (and billing) the first one.
        """
        if not error.transient or error.code == "Timeout" or attempt >= self._max_tries:
            return None
        delay = BACKOFF_BASE_SECONDS * 2 ** (attempt - 1) + random.uniform(0, BACKOFF_BASE_SECONDS)
        if time.monotonic() + delay + _MIN_TRY_SECONDS > deadline:
            return None
        return delay

    # --- one try ------------------------------------------------------------------------------

    def _one_try(
        self,
        http: httpx.Client,
        payload: bytes,
        request: ImageSearchRequest,
        deadline: float,
        state: _Try,
        earlier_ms: float,
    ) -> Generator[ProviderEvent, None, None]:
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream, application/json",
        }
        feed = _LineFeed(http, self._url, payload, headers, self._http_timeout)
        try:
            head = self._head(feed, deadline)
            if not 200 <= head.status < 300:
                raise error_from_response(
                    head.status, self._scrub(head.error_text), request_id=head.request_id
                )
            yield Progress("sent")
            stream = ImageSearchStream(
                query_sent=request.text.strip(), request_id=head.request_id, scrub=self._scrub
            )
            lines = feed.lines(deadline, self._idle_timeout)
            try:
                first, lines = _peek(lines)
                if _is_event_stream(head.content_type, first):
                    events = self._streamed(stream, lines, state)
                else:
                    events = self._whole(stream, lines, state, head.status)
                for event in events:
                    if isinstance(event, Completed):
                        spent = (feed.last_line_at - state.started) * 1000
                        event = replace(event, provider_ms=earlier_ms + spent)
                    yield event
            except _Broken as broken:
                raise self._broken_error(broken, stream) from None
        finally:
            feed.abandon()

    def _head(self, feed: _LineFeed, deadline: float) -> _Head:
        try:
            return feed.head(deadline)
        except _Broken as broken:
            raise own_error("Timeout", f"no answer within {self._timeout:g} s") from broken
        except httpx.TimeoutException as exc:
            raise own_error("Timeout", self._scrub(f"{type(exc).__name__}: {exc}")) from None
        except httpx.TransportError as exc:
            raise own_error("Network", self._scrub(f"{type(exc).__name__}: {exc}")) from None
        except Exception as exc:
            raise own_error("Network", self._scrub(f"unexpected {type(exc).__name__}")) from exc

    def _streamed(
        self, stream: ImageSearchStream, lines: Iterator[str], state: _Try
    ) -> Iterator[ProviderEvent]:
        for event_type, data in parse_sse_lines(lines):
            state.events_received += 1
            yield from stream.feed(event_type, data)
            if stream.finished:
                return
        if not state.events_received:
            raise _Broken("closed", "the stream ended before its first event")
        raise stream.interrupted("the stream ended without response.completed")

    def _whole(
        self, stream: ImageSearchStream, lines: Iterator[str], state: _Try, status: int
    ) -> Iterator[ProviderEvent]:
        """A server that ignored ``stream``: one JSON response object."""
        text = "\n".join(lines)
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise own_error("BadResponse", f"not JSON: {exc}", status=status) from None
        if not isinstance(payload, dict):
            raise own_error("BadResponse", "the answer is not a JSON object", status=status)
        if "output" not in payload and _error_fields(payload)[0]:
            # Some gateways answer 200 with an error body; honour the code they give.
            raise error_from_response(status, self._scrub(text), request_id=stream.request_id)
        state.events_received += 1
        yield from stream.feed_response(payload)

    def _broken_error(self, broken: _Broken, stream: ImageSearchStream) -> ProviderError:
        """A stream that stopped: partial after the first event, else an ordinary failure."""
        detail = self._scrub(broken.detail)
        if not stream.events_received:
            code = {"closed": "Network", "too_large": "BadResponse"}.get(broken.kind, "Timeout")
            return own_error(code, detail)
        reason = {
            "too_large": "the answer was too large to read",
            "closed": "the connection was closed",
            "idle": f"nothing arrived for {self._idle_timeout:g} s",
            "deadline": f"the {self._timeout:g} s limit was reached",
        }[broken.kind]
        return stream.interrupted(reason, detail)

    def _scrub(self, text: str) -> str:
        """Remove the key should a server or a library ever echo it back."""
        if len(self._api_key) >= _MIN_SCRUBBED_KEY and self._api_key in text:
            return text.replace(self._api_key, _REDACTED)
        return text


def _peek(lines: Iterator[str]) -> tuple[str, Iterator[str]]:
    """The first non-blank line, and all the lines again."""
    seen: list[str] = []
    for line in lines:
        seen.append(line)
        if line.strip():
            break
    first = seen[-1] if seen else ""
    return first, _chain(seen, lines)


def _chain(seen: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from seen
    yield from rest


def _is_event_stream(content_type: str, first_line: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "text/event-stream":
        return True
    if kind == "application/json":
        return False
    return first_line.startswith(("event:", "data:", ":"))
