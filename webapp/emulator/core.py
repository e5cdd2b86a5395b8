"""The pieces every emulated API shares: request, response, route, state, faults.

Each API module (iqs.py, images.py, ...) exposes ``ROUTES`` and ``FAULTS`` and
builds ``Response`` objects from ``Request`` objects; only server.py speaks
sockets. That keeps an API module readable next to the vendor's document.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webapp.emulator.library import LibrarySource

MAX_LOGGED_REQUESTS = 500  # a long manual session must not grow without bound
MAX_TIMING_SECONDS = 600.0  # a typo such as 1500 must not hang a bench for half an hour
JITTER = 0.1  # ±10%: real services never take exactly the same time twice


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator received, as tests want to inspect it."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    json: Any  # the parsed JSON body, or None when there was none or it was not JSON

    def header(self, name: str) -> str:
        return _header(self.headers, name)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str  # scheme://host:port the client used, for URLs we hand back
    state: EmulatorState
    match: re.Match[str]

    def header(self, name: str) -> str:
        return _header(self.headers, name)


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    disconnect: bool = False  # drop the connection without answering (fault)
    trickle: float = 0.0  # seconds between small body chunks (fault); 0 = all at once
    # A streamed body (server-sent events): sent chunked, each piece as it comes, and
    # ``body`` is ignored. ``cut_stream`` drops the connection after the last piece,
    # without the final chunk, as a server that dies midway would.
    stream: Iterable[bytes] | None = None
    cut_stream: bool = False


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def route(method: str, pattern: str, handler: Handler) -> Route:
    return Route(method, re.compile(pattern), handler)


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(status=status, body=body, headers=headers or {})


def _header(headers: dict[str, str], name: str) -> str:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), "")


# --- faults -------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    remaining: int | None  # requests still to fault; None = until cleared
    delay: float | None = None  # for "slow"
    n: int | None = None  # a fault's number, e.g. how many events before "cut_after" cuts


class FaultBoard:
    """At most one active fault per emulated API, shared by every handler thread."""

    def __init__(self, known: dict[str, frozenset[str]]) -> None:
        self._known = known
        self._active: dict[str, Fault] = {}
        self._lock = threading.Lock()

    def set(
        self,
        name: str,
        count: int | None = None,
        *,
        delay: float | None = None,
        api: str = "iqs",
        n: int | None = None,
    ) -> None:
        if name not in self._known.get(api, frozenset()):
            raise ValueError(f"unknown fault {name!r} for api {api!r}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1, or None for until cleared")
        if delay is not None and not 0 <= delay <= 600:
            raise ValueError("delay must be between 0 and 600 seconds")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 10**6):
            raise ValueError("n must be a whole number from 0 to 1000000")
        with self._lock:
            self._active[api] = Fault(name, count, delay, n)

    def clear(self) -> None:
        with self._lock:
            self._active.clear()

    def take(self, api: str) -> Fault | None:
        """The fault this request must suffer, if any; counts it down."""
        with self._lock:
            fault = self._active.get(api)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._active[api]
            return Fault(fault.name, fault.remaining, fault.delay, fault.n)

    def describe(self) -> dict[str, dict[str, object]]:
        with self._lock:
            return {
                api: {"fault": f.name, "remaining": f.remaining, "delay": f.delay, "n": f.n}
                for api, f in self._active.items()
            }


# --- timing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """How long the emulated services take, like the real ones (both 0: at once).

    ``iqs_latency``: seconds before IQS MultimodalSearch answers (the real
    service reports a searchTime of 808 to 1048 ms). ``stream_seconds``: how
    long one image-search stream lasts from first event to last (the real one
    takes about 15 s); 0 leaves the stream to ``EmulatorState.pacing``.
    Frozen, and swapped whole, so a handler thread never sees half an update.
    """

    iqs_latency: float = 0.0
    stream_seconds: float = 0.0

    def __post_init__(self) -> None:
        for name in ("iqs_latency", "stream_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number of seconds")
            if not 0 <= value <= MAX_TIMING_SECONDS:
                raise ValueError(f"{name} must be between 0 and {MAX_TIMING_SECONDS:g} seconds")

    def describe(self) -> dict[str, float]:
        return {"iqs_latency": self.iqs_latency, "stream_seconds": self.stream_seconds}


def jittered(seconds: float, rng: random.Random | None = None) -> float:
    """``seconds`` give or take JITTER; 0 stays 0 (instant means instant)."""
    if seconds <= 0:
        return 0.0
    return seconds * (rng or random).uniform(1 - JITTER, 1 + JITTER)


# --- state ------------------------------------------------------------------------------


class EmulatorState:
    """What outlives one request: faults, the request log, timing and the stop signal."""

    def __init__(
        self,
        known_faults: dict[str, frozenset[str]],
        *,
        verbose: bool = False,
        pacing: float = 1.0,
        timing: Timing | None = None,
    ) -> None:
        self.faults = FaultBoard(known_faults)
        # Scales the pauses streaming APIs put between events: 1 looks like the real
        # service to a person watching, 0 streams at once (tests).
        self.pacing = pacing
        self.default_pacing = pacing
        # The real services' latency (see Timing); settable while serving (/_emulator/timing).
        self.timing = timing or Timing()
        self.default_timing = self.timing
        self.stopping = threading.Event()  # wakes "slow" sleepers when the server stops
        self.verbose = verbose
        # The local library to answer from (--library-manifest), or None: fixtures then.
        self.library: LibrarySource | None = None
        self._log: deque[RecordedRequest] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self._log_lock = threading.Lock()

    def record(self, entry: RecordedRequest) -> None:
        with self._log_lock:
            self._log.append(entry)

    def requests(self) -> list[RecordedRequest]:
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()
