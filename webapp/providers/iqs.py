"""Alibaba Cloud IQS MultimodalSearch: text in, web images out.

Wire format (api-docs 000/001): ``POST {base}/search/multimodal`` with
``Authorization: Bearer <key>`` and ``{"query": ..., "advancedParams":
{"excludeSites": "a.com,b.com"}}``. The answer carries ``requestId``,
``imageItems[]`` (title, hostPageUrl, imageUrl, publishedTime, width, height),
``searchInformation.searchTime`` and ``queryContext.originalQuery.query``.

Invariants:
- A search never outlives ``timeout`` seconds (one overall deadline covering
  every try and every backoff), whatever the server does byte by byte.
- The API key goes into one header and nowhere else: not into an error, a log
  line or ``Completed.raw_response``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx

from webapp.providers.bounded_http import (
    AnswerTooLarge,
    DeadlinePassed,
    HttpAnswer,
    first_str,
    post_within,
)
from webapp.providers.errors import ProviderError
from webapp.providers.events import Completed, HitsFound, ImageHit, Progress, ProviderEvent

logger = logging.getLogger(__name__)

SEARCH_PATH = "/search/multimodal"
QUERY_MAX_CHARS = 50  # api-docs 000: "The value must be 1 to 50 characters long."
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # 20 items are ~10 KB; anything near this is not IQS
BACKOFF_BASE_SECONDS = 0.25
_MIN_TRY_SECONDS = 0.2  # no point starting a try with less time than this left
_REDACTED = "[redacted]"
_MIN_SCRUBBED_KEY = 8
# IQS is a Chinese service and every documented publishedTime carries +08:00,
# so a time that comes without an offset is read as Beijing time.
_IQS_DEFAULT_TZ = timezone(timedelta(hours=8))

# code -> (HTTP status, a sentence a person can act on, transient)
IQS_ERRORS: dict[str, tuple[int, str, bool]] = {
    "InvalidAccessKeyId.NotFound": (
        404,
        "IQS did not recognise the API key; check IQS_API_KEY "
        "(a new key can take up to 5 minutes to become active).",
        False,
    ),
    "Retrieval.NotActivate": (
        403,
        "The IQS service is not activated for this account; activate it in the "
        "Alibaba Cloud console or ask your account manager.",
        False,
    ),
    "Retrieval.Arrears": (
        403,
        "The IQS account has an overdue balance; top it up in the Alibaba Cloud console.",
        False,
    ),
    "Retrieval.NotAuthorised": (
        403,
        "The IQS key belongs to a sub-account without permission; grant it "
        "AliyunIQSFullAccess in the RAM console.",
        False,
    ),
    "Retrieval.TestUserPeriodExpired": (
        403,
        "The 15-day IQS trial has expired; upgrade to a paid plan to keep searching.",
        False,
    ),
    "Retrieval.Throttling.User": (
        429,
        "IQS is receiving too many searches from this account; try again in a moment.",
        True,
    ),
    # A daily quota: trying again today cannot help, so it is not transient.
    "Retrieval.TestUserQueryPerDayExceeded": (
        429,
        "The IQS trial's daily limit of 1,000 searches is used up; try again tomorrow "
        "or upgrade to a paid plan.",
        False,
    ),
}

# Our own codes, for failures the server never named.
OWN_ERRORS: dict[str, tuple[str, bool]] = {
    "Timeout": ("IQS did not answer in time; try the search again in a moment.", True),
    "Network": ("Loupe could not reach IQS; check the network and try again.", True),
    "BadResponse": ("IQS sent an answer Loupe could not read; try again later.", False),
}


@dataclass(frozen=True)
class IqsRequest:
    query: str  # already validated (1 to 50 chars) and rewritten by the caller
    exclude_sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedResponse:
    """What ``parse_response`` makes of one successful answer."""

    hits: list[ImageHit]
    request_id: str
    search_time_ms: int | None
    original_query: str
    dropped_items: int


def own_error(code: str, detail: str = "", *, status: int | None = None) -> ProviderError:
    sentence, transient = OWN_ERRORS[code]
    return ProviderError(
        code, sentence, status=status, transient=transient, provider_message=detail
    )


# --- the request ----------------------------------------------------------------


def build_request_body(request: IqsRequest) -> dict[str, Any]:
    """The JSON body; ``advancedParams`` only when there is something to exclude."""
    if not 1 <= len(request.query) <= QUERY_MAX_CHARS:
        raise ValueError(f"IQS queries are 1 to {QUERY_MAX_CHARS} characters; validate first")
    body: dict[str, Any] = {"query": request.query}
    sites = [site.strip() for site in request.exclude_sites if site.strip()]
    if sites:
        body["advancedParams"] = {"excludeSites": ",".join(sites)}
    return body


class IqsClient:
    """One IQS endpoint and key. Cheap to build: searches share a pooled client per process."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 6.0,
        max_tries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if timeout <= 0 or max_tries < 1:
            raise ValueError("timeout must be positive and max_tries at least 1")
        self._url = base_url.rstrip("/") + SEARCH_PATH
        self._api_key = api_key
        self._timeout = timeout
        self._max_tries = max_tries
        self._sleep = sleep
        # A transport (tests) gets a client of its own; otherwise searches share one
        # pooled client per process, so TLS sessions to IQS are reused between searches.
        self._own_http = httpx.Client(transport=transport) if transport is not None else None

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return f"IqsClient(url={self._url!r}, timeout={self._timeout}, max_tries={self._max_tries})"

    def search(self, request: IqsRequest) -> Iterator[ProviderEvent]:
        body = json.dumps(build_request_body(request), ensure_ascii=False).encode("utf-8")
        yield Progress("sent")
        http = self._own_http or _shared_http(os.getpid())
        payload, provider_ms = yield from self._call_with_retries(http, body)
        parsed = parse_response(payload)
        yield HitsFound(parsed.hits)
        yield Completed(
            request_id=parsed.request_id,
            search_time_ms=parsed.search_time_ms,
            query_sent=request.query,
            provider_ms=provider_ms,
            dropped_items=parsed.dropped_items,
            raw_response=payload,
        )

    # --- tries and backoff --------------------------------------------------------

    def _call_with_retries(
        self, http: httpx.Client, body: bytes
    ) -> Generator[ProviderEvent, None, tuple[dict[str, Any], float]]:
        """Yield a Progress per retry; return (payload, provider_ms)."""
        # The deadline starts here, not when the generator was made: the caller may
        # spend time between our events (saving progress) and that is not IQS's time.
        deadline = time.monotonic() + self._timeout
        provider_ms = 0.0
        for attempt in range(1, self._max_tries + 1):
            try:
                answer = self._exchange(http, body, deadline)
                provider_ms += answer.elapsed_ms
                payload = self._payload_or_error(answer)
            except ProviderError as error:
                delay = self._retry_delay(error, attempt, deadline)
                if delay is None:
                    raise
                logger.info(
                    "IQS %s on try %d of %d; retrying", error.code, attempt, self._max_tries
                )
                yield Progress("retrying", f"{error.code}; try {attempt + 1} of {self._max_tries}")
                self._sleep(delay)
                continue
            return payload, provider_ms
        raise AssertionError("unreachable: the last try either returns or raises")

    def _retry_delay(self, error: ProviderError, attempt: int, deadline: float) -> float | None:
        """Seconds to wait before the next try, or None when we must stop.

        Only transient errors are retried (throttling, 5xx, a dropped connection;
        the search is read-only, so repeating it is safe). A timeout is not: the
        overall deadline is spent by then. 403/404 and the daily quota are not
        transient, so they are tried exactly once.
        """
        if not error.transient or error.code == "Timeout" or attempt >= self._max_tries:
            return None
        delay = BACKOFF_BASE_SECONDS * 2 ** (attempt - 1) + random.uniform(0, BACKOFF_BASE_SECONDS)
        if time.monotonic() + delay + _MIN_TRY_SECONDS > deadline:
            return None
        return delay

    # --- one try --------------------------------------------------------------------

    def _exchange(self, http: httpx.Client, body: bytes, deadline: float) -> HttpAnswer:
        """One POST, bounded by the overall deadline (see bounded_http)."""
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        try:
            answer = post_within(
                http,
                self._url,
                body=body,
                headers=headers,
                deadline=deadline,
                max_bytes=MAX_RESPONSE_BYTES,
            )
        except DeadlinePassed as exc:
            raise own_error("Timeout", str(exc)) from None
        except Exception as exc:
            raise self._transport_error(exc) from None
        return HttpAnswer(answer.status, self._scrub(answer.text), answer.elapsed_ms)

    def _transport_error(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, AnswerTooLarge):
            return own_error("BadResponse", str(exc))
        detail = self._scrub(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, httpx.TimeoutException):
            return own_error("Timeout", detail)
        if isinstance(exc, httpx.TransportError):
            return own_error("Network", detail)
        return own_error("Network", f"unexpected {detail}")

    def _payload_or_error(self, answer: HttpAnswer) -> dict[str, Any]:
        if not 200 <= answer.status < 300:
            raise error_from_response(answer.status, answer.text)
        try:
            payload = json.loads(answer.text)
        except ValueError as exc:
            raise own_error("BadResponse", f"not JSON: {exc}", status=answer.status) from None
        if not isinstance(payload, dict):
            raise own_error("BadResponse", "the answer is not a JSON object", status=answer.status)
        if "imageItems" not in payload and _error_fields(payload)[0]:
            # Some gateways answer 200 with an error body; honour the code they give.
            raise error_from_response(answer.status, answer.text)
        return payload

    def _scrub(self, text: str) -> str:
        """Remove the key should a server or a library ever echo it back.

        Keys shorter than 8 characters are not real keys; replacing them would
        mangle ordinary words in titles.
        """
        if len(self._api_key) >= _MIN_SCRUBBED_KEY and self._api_key in text:
            return text.replace(self._api_key, _REDACTED)
        return text


@cache
def _shared_http(pid: int) -> httpx.Client:
    """One pooled client per process (keyed by pid: a forked worker must not share sockets)."""
    # No cap on connections: a worker runs up to WORKER_CONCURRENCY calls at once, and
    # httpx's default of 100 would queue the rest inside the client, unseen.
    return httpx.Client(
        follow_redirects=False,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
    )


# --- errors ---------------------------------------------------------------------


def error_from_response(status: int, text: str) -> ProviderError:
    """Map a failed answer to a ProviderError.

    The error body is not documented; the SDK sample reads ``code``, ``message``
    and ``requestId``, so those come first and common spellings are tolerated.
    Without a code the HTTP status decides (``HTTP.503``).
    """
    try:
        body: object = json.loads(text)
    except ValueError:
        body = None
    code, provider_message, request_id = _error_fields(body)
    if code in IQS_ERRORS:
        _, sentence, transient = IQS_ERRORS[code]
    else:
        sentence, transient = _sentence_for_status(status)
        code = code or f"HTTP.{status}"
    if not provider_message and body is None:
        provider_message = text.strip()[:200]
    return ProviderError(
        code,
        sentence,
        status=status,
        transient=transient,
        request_id=request_id,
        provider_message=provider_message,
    )


def _error_fields(body: object) -> tuple[str, str, str]:
    """(code, message, requestId) from an error body of any common shape."""
    if not isinstance(body, dict):
        return "", "", ""
    nested = body.get("error")
    fields = {**nested, **body} if isinstance(nested, dict) else body
    code = first_str(fields, "code", "Code", "errorCode", "error_code", "ErrorCode")
    message = first_str(fields, "message", "Message", "errorMessage", "error_message", "msg")
    request_id = first_str(fields, "requestId", "RequestId", "request_id")
    return code, message, request_id


def _sentence_for_status(status: int) -> tuple[str, bool]:
    if status == 429:
        return "IQS is busy right now; try again in a moment.", True
    if status >= 500:
        return f"IQS had a temporary problem (HTTP {status}); try again in a moment.", True
    if status in (401, 403):
        return "IQS refused the request; check IQS_API_KEY and the account's status.", False
    return f"IQS did not accept the search (HTTP {status}).", False


# --- the response -----------------------------------------------------------------


def parse_response(payload: object) -> ParsedResponse:
    """Turn a decoded answer into hits, repairing what can be repaired.

    An item without a usable http(s) ``imageUrl`` is dropped (and counted); any
    other missing or mistyped field is repaired or left empty. Only a body that
    is not an object, or ``imageItems`` that is not a list, fails as a whole.
    """
    if not isinstance(payload, dict):
        raise own_error("BadResponse", "the answer is not a JSON object")
    items = payload.get("imageItems")
    if not isinstance(items, list):
        raise own_error("BadResponse", f"imageItems is {type(items).__name__}, not a list")
    hits: list[ImageHit] = []
    for item in items:
        hit = parse_item(item, rank=len(hits) + 1)
        if hit is not None:
            hits.append(hit)
    info = payload.get("searchInformation")
    context = payload.get("queryContext")
    original = context.get("originalQuery") if isinstance(context, dict) else None
    return ParsedResponse(
        hits=hits,
        request_id=_clean_text(payload.get("requestId")),
        search_time_ms=_to_int(info.get("searchTime")) if isinstance(info, dict) else None,
        original_query=_clean_text(original.get("query")) if isinstance(original, dict) else "",
        dropped_items=len(items) - len(hits),
    )


def parse_item(item: object, *, rank: int) -> ImageHit | None:
    if not isinstance(item, dict):
        return None
    image_url = _clean_url(item.get("imageUrl"))
    if not image_url:
        return None
    host_page_url = _clean_url(item.get("hostPageUrl"))
    return ImageHit(
        rank=rank,
        title=_clean_text(item.get("title")) or _title_from_url(host_page_url or image_url),
        image_url=image_url,
        host_page_url=host_page_url,
        published_time=_to_datetime(item.get("publishedTime")),
        width=_to_dimension(item.get("width")),
        height=_to_dimension(item.get("height")),
    )


def _clean_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return " ".join(str(value).split())  # also folds the newlines some page titles carry


def _clean_url(value: object) -> str:
    if not isinstance(value, str):
        return ""
    url = value.strip()
    if url.startswith("//"):  # protocol-relative; the gallery fetches over https
        url = "https:" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return url


def _title_from_url(url: str) -> str:
    return urlsplit(url).hostname or ""


def _to_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            return int(text)
    return None


def _to_dimension(value: object) -> int | None:
    number = _to_int(value)
    return number if number is not None and 0 < number <= 100_000 else None


def _to_datetime(value: object) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10**11 else value  # epoch milliseconds or seconds
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_IQS_DEFAULT_TZ)
