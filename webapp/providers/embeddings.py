"""What every embedding backend shares: the interface, a rate limiter, one JSON POST with
retries under an overall deadline, and fitting an image under a byte limit. No Django.

Backends (opensearch_embedding.py, dashscope_embedding.py, local_clip.py) turn
images and texts into vectors of one space, so a text can find an image. Each
returns one L2-normalised vector per input, in input order, and raises
``ProviderError`` with a sentence a person can act on when it cannot.

Invariants of the remote clients (as in iqs.py):
- One API call never outlives ``timeout`` seconds: one deadline covers every
  try and every backoff, whatever the server does byte by byte.
- Only throttling, 5xx, 408 and dropped connections are tried again, with
  exponential backoff and jitter; a refused key or a bad input is tried once.
- The API key goes into the Authorization header and nowhere else: it is
  scrubbed from anything the server echoes, and ``repr`` never shows it.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import httpx
from PIL import Image

from webapp.imaging.thumbnails import ImageTooLarge, NotAnImage, make_thumbnail
from webapp.providers.bounded_http import (
    AnswerTooLarge,
    DeadlinePassed,
    HttpAnswer,
    post_within,
)
from webapp.providers.errors import ProviderError

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # 32 vectors of 1536 floats as JSON are ~1.5 MB
BACKOFF_BASE_SECONDS = 0.25
_MIN_TRY_SECONDS = 0.2
_REDACTED = "[redacted]"
_MIN_SCRUBBED_KEY = 8
# Shrinking an image that is over a byte limit: the first longest side tried, and
# the factor each later try shrinks by. Embedding models see 224-448 px, so even
# the first step loses nothing they would use.
_FIT_FIRST_SIDE = 2048
_FIT_STEP = 0.7
_FIT_QUALITY = 88


class EmbeddingBackend(Protocol):
    """Images and texts in, unit vectors of one shared space out."""

    name: str  # e.g. "opensearch/ops-m2-encoder": stored with each vector
    dimensions: int

    def embed_images(self, images: list[bytes]) -> list[list[float]]: ...

    def embed_texts(self, texts: list[str]) -> list[list[float]]: ...


# --- vectors ---------------------------------------------------------------------------


def checked_vector(raw: object, dimensions: int, service: str) -> list[float]:
    """The vector normalised to length 1, or ProviderError("BadResponse") when it is not one.

    Normalised here so cosine similarity is a dot product for every backend,
    whatever the service returns (the documents do not say theirs are).
    """
    if not isinstance(raw, list) or len(raw) != dimensions:
        got = len(raw) if isinstance(raw, list) else type(raw).__name__
        raise bad_response(service, f"an embedding of {got} values, expected {dimensions}")
    values: list[float] = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_response(service, "an embedding holds a value that is not a number")
        values.append(float(value))
    norm = math.sqrt(sum(v * v for v in values))
    if not math.isfinite(norm) or norm == 0.0:
        raise bad_response(service, "an embedding is all zeros or not finite")
    return [v / norm for v in values]


def bad_response(service: str, detail: str, *, status: int | None = None) -> ProviderError:
    return ProviderError(
        "BadResponse",
        f"{service} sent an answer Loupe could not read; try again later.",
        status=status,
        provider_message=detail,
    )


# --- images ----------------------------------------------------------------------------

_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"BM", "bmp"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def image_format(data: bytes) -> str:
    """The image type for a data URL ("jpeg", "png", ...), from the first bytes."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return ""


def data_url(data: bytes) -> str:
    """``data:image/{format};base64,{data}``, the form both documents give for inline images."""
    kind = image_format(data) or "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def fit_image(data: bytes, max_bytes: int, *, service: str, formats: tuple[str, ...]) -> bytes:
    """``data`` itself when it is small enough and of an accepted format, else a JPEG
    re-encoded smaller until it fits under ``max_bytes``.

    Raises ProviderError("InvalidImage") when the bytes are not a readable image.
    """
    if len(data) <= max_bytes and image_format(data) in formats:
        return data
    side = _FIT_FIRST_SIDE
    if len(data) > max_bytes:  # too large: downscale from the first try, never just recompress
        side = min(side, int(_longest_side(data) * _FIT_STEP)) or side
    while side >= 16:
        try:
            smaller = make_thumbnail(data, max_side=side, quality=_FIT_QUALITY).data
        except (NotAnImage, ImageTooLarge) as exc:
            raise ProviderError(
                "InvalidImage", f"An image could not be sent to {service}: {exc.message}"
            ) from exc
        if len(smaller) <= max_bytes:
            return smaller
        side = int(side * _FIT_STEP)
    raise ProviderError(
        "InvalidImage", f"An image could not be made small enough for {service}'s size limit."
    )


def _longest_side(data: bytes) -> int:
    """From the header alone; 0 when it cannot be read (make_thumbnail then says why)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return max(image.size)
    except Exception:  # Pillow raises many types for a damaged header
        return 0


# --- the rate limiter --------------------------------------------------------------------


class RateLimiter:
    """At most ``rate`` calls start in any ``period`` seconds (a sliding window).

    Thread-safe: callers in one process share it, so web and worker threads
    together stay under the account's limit as far as this process goes.
    ``clock`` and ``sleep`` are injectable, so tests run on a fake clock.
    """

    def __init__(
        self,
        rate: int,
        period: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 1 or period <= 0:
            raise ValueError("rate must be at least 1 and period positive")
        self.rate = rate
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, period={self.period})"

    def acquire(self) -> float:
        """Wait until a call may start; return how long this waited."""
        waited = 0.0
        with self._lock:  # held while sleeping: the next caller queues behind this one
            while True:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.period:
                    self._starts.popleft()
                if len(self._starts) < self.rate:
                    self._starts.append(now)
                    return waited
                pause = self.period - (now - self._starts[0])
                self._sleep(pause)
                waited += pause


# --- one JSON POST, with retries under a deadline ---------------------------------------


@dataclass(frozen=True)
class ErrorSpec:
    """How a remote service says it failed: its sentences per code and per HTTP status."""

    service: str  # the name a person knows, e.g. "OpenSearch"
    key_setting: str  # the setting to check when the key is refused
    known: Mapping[str, tuple[str, bool]]  # code -> (sentence, transient)


class JsonPoster:
    """POSTs JSON to one URL with one key, retrying what is transient under one deadline."""

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        errors: ErrorSpec,
        timeout: float,
        max_tries: int,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if timeout <= 0 or max_tries < 1:
            raise ValueError("timeout must be positive and max_tries at least 1")
        self.url = url
        self._api_key = api_key
        self._errors = errors
        self.timeout = timeout
        self.max_tries = max_tries
        self._sleep = sleep
        self._limiter = limiter
        self._own_http = httpx.Client(transport=transport) if transport is not None else None

    def __repr__(self) -> str:  # never the key
        return f"JsonPoster(url={self.url!r}, timeout={self.timeout}, max_tries={self.max_tries})"

    def post(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The decoded JSON object of a 2xx answer, or ProviderError."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        http = self._own_http or _shared_http(os.getpid())
        deadline = time.monotonic() + self.timeout
        for attempt in range(1, self.max_tries + 1):
            try:
                if self._limiter is not None:
                    self._limiter.acquire()
                return self._decode(self._exchange(http, body, deadline))
            except ProviderError as error:
                delay = self._retry_delay(error, attempt, deadline)
                if delay is None:
                    raise
                logger.info(
                    "%s %s on try %d of %d; retrying",
                    self._errors.service,
                    error.code,
                    attempt,
                    self.max_tries,
                )
                self._sleep(delay)
        raise AssertionError("unreachable: the last try returns or raises")

    def _retry_delay(self, error: ProviderError, attempt: int, deadline: float) -> float | None:
        if not error.transient or error.code == "Timeout" or attempt >= self.max_tries:
            return None
        delay = BACKOFF_BASE_SECONDS * 2 ** (attempt - 1) + random.uniform(0, BACKOFF_BASE_SECONDS)
        if time.monotonic() + delay + _MIN_TRY_SECONDS > deadline:
            return None
        return delay

    # --- one try ---------------------------------------------------------------------

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
                self.url,
                body=body,
                headers=headers,
                deadline=deadline,
                max_bytes=MAX_RESPONSE_BYTES,
            )
        except DeadlinePassed as exc:
            raise self._own("Timeout", str(exc)) from None
        except Exception as exc:
            raise self._transport_error(exc) from None
        return HttpAnswer(answer.status, self.scrub(answer.text), answer.elapsed_ms)

    def _transport_error(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, AnswerTooLarge):
            return bad_response(self._errors.service, f"answer over {MAX_RESPONSE_BYTES} bytes")
        detail = self.scrub(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, httpx.TimeoutException):
            return self._own("Timeout", detail)
        return self._own("Network", detail)

    def _decode(self, answer: HttpAnswer) -> dict[str, Any]:
        if not 200 <= answer.status < 300:
            raise self.error_from_response(answer.status, answer.text)
        try:
            payload = json.loads(answer.text)
        except ValueError as exc:
            raise bad_response(
                self._errors.service, f"not JSON: {exc}", status=answer.status
            ) from None
        if not isinstance(payload, dict):
            raise bad_response(
                self._errors.service, "the answer is not a JSON object", status=answer.status
            )
        return payload

    # --- errors ----------------------------------------------------------------------

    def _own(self, code: str, detail: str) -> ProviderError:
        service = self._errors.service
        sentences = {
            "Timeout": f"{service} did not answer in time; try again in a moment.",
            "Network": f"Loupe could not reach {service}; check the network and try again.",
        }
        return ProviderError(code, sentences[code], transient=True, provider_message=detail)

    def error_from_response(self, status: int, text: str) -> ProviderError:
        """A failed answer as a ProviderError: the documented code's sentence, else the status's.

        Both services answer ``{"code", "message", "request_id"}``; a gateway
        page that is not JSON falls back on the HTTP status (``HTTP.503``).
        """
        try:
            body: object = json.loads(text)
        except ValueError:
            body = None
        fields = body if isinstance(body, dict) else {}
        code = _text(fields.get("code"))
        message = _text(fields.get("message")) or (text.strip()[:200] if body is None else "")
        request_id = _text(fields.get("request_id")) or _text(fields.get("requestId"))
        if code in self._errors.known:
            sentence, transient = self._errors.known[code]
        else:
            sentence, transient = self._status_sentence(status)
            code = code or f"HTTP.{status}"
        return ProviderError(
            code,
            sentence,
            status=status,
            transient=transient,
            request_id=request_id,
            provider_message=message,
        )

    def _status_sentence(self, status: int) -> tuple[str, bool]:
        service = self._errors.service
        if status == 429:
            return f"{service} is receiving too many requests; try again in a moment.", True
        if status >= 500 or status == 408:
            return f"{service} had a temporary problem (HTTP {status}); try again later.", True
        if status in (401, 403):
            return (
                f"{service} refused the API key; check {self._errors.key_setting}.",
                False,
            )
        return f"{service} did not accept the request (HTTP {status}).", False

    def scrub(self, text: str) -> str:
        """Remove the key should a server or a library ever echo it back."""
        if len(self._api_key) >= _MIN_SCRUBBED_KEY and self._api_key in text:
            return text.replace(self._api_key, _REDACTED)
        return text


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


@cache
def _shared_http(pid: int) -> httpx.Client:
    """One pooled client per process (keyed by pid: a forked worker must not share sockets)."""
    # No cap on connections: a worker runs up to WORKER_CONCURRENCY calls at once, and
    # httpx's default of 100 would queue the rest inside the client, unseen.
    return httpx.Client(
        follow_redirects=False,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
    )
