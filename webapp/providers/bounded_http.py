"""One HTTP POST that cannot outlive an overall deadline.

httpx's timeouts are per socket operation, so a server that trickles a byte
every few seconds could hold a read for ever. The POST therefore runs in a
helper thread that the caller stops waiting for at the deadline; the abandoned
thread stops at its next chunk, or when one socket operation times out (each
is bounded by the time that was left), whichever comes first.

Shared by the JSON clients (IQS, the embedding services); the streaming
Responses client reads its events in a thread of its own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    text: str
    elapsed_ms: float


class DeadlinePassed(Exception):
    """No complete answer before the deadline (or no time left to ask)."""


class AnswerTooLarge(Exception):
    """The body grew past the cap; reading stopped there."""


class _Abandoned(Exception):
    """The caller gave up waiting; the helper thread stops reading."""


def post_within(
    http: httpx.Client,
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    max_bytes: int,
) -> HttpAnswer:
    """POST ``body`` and read the whole answer before ``deadline`` (time.monotonic()).

    Raises DeadlinePassed, AnswerTooLarge, or the httpx error the transfer hit.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlinePassed("no time left before the request")
    box: dict[str, HttpAnswer | BaseException] = {}
    abandoned = threading.Event()
    started = time.monotonic()

    def transfer() -> None:
        try:
            box["outcome"] = _post(http, url, body, headers, remaining, max_bytes, abandoned)
        except BaseException as exc:  # handed to the waiting thread, which decides
            box["outcome"] = exc

    worker = threading.Thread(target=transfer, daemon=True)
    worker.start()
    worker.join(remaining)
    if worker.is_alive():
        abandoned.set()
        raise DeadlinePassed(f"no complete answer within {remaining:.3g} s")
    outcome = box["outcome"]
    if isinstance(outcome, BaseException):
        raise outcome
    return HttpAnswer(outcome.status, outcome.text, (time.monotonic() - started) * 1000)


def _post(
    http: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    remaining: float,
    max_bytes: int,
    abandoned: threading.Event,
) -> HttpAnswer:
    with http.stream(
        "POST", url, content=body, headers=headers, timeout=httpx.Timeout(remaining)
    ) as response:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise AnswerTooLarge(f"answer larger than {max_bytes} bytes")
            if abandoned.is_set():  # the caller has given up; free the connection
                raise _Abandoned
            chunks.append(chunk)
    return HttpAnswer(response.status_code, b"".join(chunks).decode("utf-8", "replace"), 0.0)


def first_str(fields: dict[str, Any], *keys: str) -> str:
    """The first of ``keys`` holding a non-empty string or number, as text.

    Error bodies name the same thing differently (``code``/``Code``/``errorCode``);
    the clients list the spellings they accept, most likely first.
    """
    for key in keys:
        value = fields.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ""
