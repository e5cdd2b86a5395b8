"""The search pipeline in production shape (issue 9): capacity, mixed load, live streams.

One run starts the whole app as production runs it (bench/stack.py): a
throwaway PostgreSQL database (SQLite when no server answers), a Redis of its
own, the provider emulator, the Celery worker (scripts/worker.sh, a threads
pool) and the web server (scripts/web.sh, gunicorn + uvicorn workers). Then:

1. **capacity**: the emulator's IQS answers after 8 s; 150 text searches are
   submitted at once through the service, and the number of rows in status
   ``running`` is sampled every 100 ms. Prints the peak in flight and the time
   until all 150 are finished (ideal: about 8 s plus the app's overhead).
2. **mixed**: IQS answers after 1 s and an image search streams for 15 s; 10
   image searches then 40 text searches are submitted together. Prints the text
   searches' submit→done p50/p95/max (target p95 ≤ 3 s: a slow kind of search
   never queues another behind it), the image searches' p50, and any failure.
3. **streams**: the worker is stopped and 200 searches are left ``running``
   with a lease far in the future. The login page is measured at 32 keep-alive
   connections (wrk when installed, else asyncio + httpx), then 200 live pages
   (SSE) are opened and kept open, the web processes' CPU is read while they sit
   idle, and the login page is measured again. Prints both and the p99 ratio
   (target ≤ 2×).

The text queries repeat a small set that the warm-up has run once, so their
pictures are already rendered by the emulator and stored as thumbnails. The
emulator draws every picture it serves (60–80 ms of CPU for a 1–3 MP JPEG, five
times the app's own thumbnail cost), and with a fresh query per search it, not
the app, saturates a 2-core machine: 150 fresh searches then take minutes.
PIPELINE_FRESH_QUERIES=1 gives every text search its own query all the same.
The image searches always bring new pictures, so part 2 still has thumbnail work
competing with the text searches.

Part 1 also counts open connections to the emulator (the provider calls really in
flight), and part 3 also measures a signed-in page (history), which needs the
database, before and with the streams open.

PIPELINE_PARTS=capacity,mixed,streams picks parts (all by default);
PIPELINE_LOADGEN_SECONDS (10) sets each login-page measurement's length;
PIPELINE_WEB_CONCURRENCY (2) the number of web workers. Never asserts: a figure
off its target is printed as such.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.stack import (
    Row,
    Stack,
    cpu_seconds,
    open_connections_to,
    percentile,
    rss_mb,
    say,
)

PARTS = ("capacity", "mixed", "streams")
CAPACITY_SEARCHES = 150
CAPACITY_LATENCY = 8.0
MIXED_IMAGES = 10
MIXED_TEXTS = 40
MIXED_TARGET_P95 = 3.0
STREAMS = 200
LOAD_CONNECTIONS = 32
STREAMS_TARGET_RATIO = 2.0
SAMPLE_SECONDS = 0.1
CAPACITY_TIMEOUT = 120.0
MIXED_TIMEOUT = 90.0
# The text queries: a set the warm-up has already run, so their pictures are rendered
# in the emulator's cache and their thumbnails are stored (see the module docstring).
WORDS = ["lion", "tiger", "mountain", "river", "bridge", "panda"]


def _fresh_queries() -> bool:
    return os.environ.get("PIPELINE_FRESH_QUERIES", "") not in ("", "0")


def _query(index: int) -> str:
    word = WORDS[index % len(WORDS)]
    return f"{word} {index}" if _fresh_queries() else word


def _photo(seed: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    picture = Image.radial_gradient("L").resize((900, 600)).convert("RGB")
    picture.putpixel((seed, seed), (seed * 20 % 256, 0, 0))  # each query image its own
    picture.save(out, "JPEG")
    return out.getvalue()


def _close_db() -> None:
    """Hand this thread's database connection back (the pool, or closed)."""
    from django.db import connections

    connections.close_all()


def _user(name: str) -> Any:
    from django.contrib.auth.models import User

    return User.objects.create_user(name, password="bench-pass-123")  # noqa: S106 (throwaway DB)


def _wait_finished(ids: list[int], timeout: float) -> int:
    """Poll every SAMPLE_SECONDS until every search is finished or time is up; unfinished."""
    from webapp.search.models import Search

    deadline = time.monotonic() + timeout
    while True:
        left = Search.objects.filter(pk__in=ids).exclude(status__in=Search.FINISHED).count()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(SAMPLE_SECONDS)


def _outcomes(ids: list[int]) -> str:
    from collections import Counter

    from webapp.search.models import Search

    rows = Search.objects.filter(pk__in=ids)
    counts = Counter(rows.values_list("status", flat=True))
    text = ", ".join(f"{n} {status}" for status, n in counts.most_common())
    bad = rows.exclude(status=Search.Status.DONE).exclude(status__in=["queued", "running"])
    for code, message in bad.values_list("error_code", "error_message")[:3]:
        text += f"; e.g. {code or '?'}: {message[:120]}"
    return text


def _seconds(later: Any, earlier: Any) -> float:
    return float((later - earlier).total_seconds())


def _spread(values: list[float], digits: int = 2) -> str:
    if not values:
        return "n/a"
    return f"p50 {statistics.median(values):.{digits}f} s, max {max(values):.{digits}f} s"


class CpuMeter:
    """CPU seconds the named parts of the stack use between start and stop."""

    def __init__(self, stack: Stack, names: tuple[str, ...]) -> None:
        self.stack, self.names = stack, names
        self.pids = {name: stack.pids(name) for name in names}
        self.start = {name: cpu_seconds(pids) for name, pids in self.pids.items()}
        self.began = time.monotonic()

    def text(self) -> str:
        wall = time.monotonic() - self.began
        used = {name: cpu_seconds(self.pids[name]) - self.start[name] for name in self.names}
        parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in used.items())
        load = os.getloadavg()[0]
        return f"{parts} over {wall:.0f} s of wall time (load average now {load:.1f})"


def warm_up(stack: Stack, user: Any) -> int:
    """Run every query of WORDS once: the worker is up, the pictures rendered and stored."""
    from webapp.search.services import search_create

    stack.set_timing(iqs_latency=0)
    ids = [search_create(user=user, query=word, provider="iqs").pk for word in WORDS]
    return _wait_finished(ids, timeout=150)


# --- 1. in-flight capacity ----------------------------------------------------------------


def part_capacity(stack: Stack) -> list[Row]:
    from webapp.search.models import Search
    from webapp.search.services import search_create

    user = _user("capacity")
    stack.set_timing(iqs_latency=CAPACITY_LATENCY)
    peak = peak_calls = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_calls
        try:
            while not stop.is_set():
                running = Search.objects.filter(user=user, status=Search.Status.RUNNING).count()
                peak = max(peak, running)
                peak_calls = max(peak_calls, open_connections_to(stack.emulator_port))
                time.sleep(SAMPLE_SECONDS)
        finally:
            _close_db()

    def submit(index: int) -> int:
        try:
            return search_create(user=user, query=_query(index), provider="iqs").pk
        finally:
            _close_db()

    cpu = CpuMeter(stack, ("worker", "emulator"))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(submit, range(CAPACITY_SEARCHES)))
    submitted = time.monotonic() - started
    try:
        unfinished = _wait_finished(ids, timeout=CAPACITY_TIMEOUT)
    finally:
        stop.set()
        sampler.join()
    wall = time.monotonic() - started
    rows = list(Search.objects.filter(pk__in=ids))
    first = min(r.created_at for r in rows)
    ended = [r.finished_at for r in rows if r.finished_at]
    claimed = [_seconds(r.started_at, r.created_at) for r in rows if r.started_at]
    last_claim = max(r.started_at for r in rows if r.started_at)
    stored = [_seconds(r.results_at, r.created_at) for r in rows if r.results_at]
    after = [_seconds(r.finished_at, r.results_at) for r in rows if r.finished_at and r.results_at]
    provider = [r.provider_ms / 1000 for r in rows if r.provider_ms]
    slow_calls = sum(1 for wait in provider if wait > 1.5 * CAPACITY_LATENCY)
    concurrency = stack.env.get("WORKER_CONCURRENCY", "128")
    n = CAPACITY_SEARCHES
    if unfinished:
        finish = f"{unfinished} of {n} still unfinished after {wall:.0f} s"
    else:
        finish = (
            f"{_seconds(max(ended), first):.1f} s  (ideal ≈ {CAPACITY_LATENCY:.0f} s + overhead; "
            f"by the poller {wall:.1f} s; submitting took {submitted:.2f} s)"
        )
    return [
        (
            f"capacity: peak in flight, {n} text searches at IQS latency {CAPACITY_LATENCY:.0f} s "
            f"(rows running, sampled every {SAMPLE_SECONDS * 1000:.0f} ms)",
            f"{peak} of {n}  (one worker process, WORKER_CONCURRENCY {concurrency})",
        ),
        (
            "capacity: peak open connections to the provider (emulator), same sampling",
            f"{peak_calls}",
        ),
        (f"capacity: first submit → all {n} finished", finish),
        (
            "capacity: created → claimed by the worker",
            f"{_spread(claimed)}; last claim {_seconds(last_claim, first):.1f} s after the "
            "first submit",
        ),
        (
            "capacity: created → results stored / results stored → finished",
            f"{_spread(stored, 1)} / {_spread(after)}",
        ),
        (
            "capacity: provider wait per search (client-measured)",
            f"{_spread(provider, 1)}; {slow_calls} of {len(provider)} waited over "
            f"{1.5 * CAPACITY_LATENCY:.0f} s (1.5× the latency)",
        ),
        ("capacity: outcomes", _outcomes(ids)),
        ("capacity: CPU used", cpu.text()),
    ]


# --- 2. mixed load ------------------------------------------------------------------------


def part_mixed(stack: Stack) -> list[Row]:
    from webapp.search.models import Search
    from webapp.search.services import search_create

    user = _user("mixed")
    stack.set_timing(iqs_latency=1, stream_seconds=15)
    photos = [_photo(i) for i in range(MIXED_IMAGES)]
    cpu = CpuMeter(stack, ("worker", "emulator"))
    started = time.monotonic()
    image_ids = [
        search_create(user=user, query="similar", provider="image_search", image=photo).pk
        for photo in photos
    ]
    text_ids = [
        search_create(user=user, query=_query(i), provider="iqs").pk for i in range(MIXED_TEXTS)
    ]
    submitted = time.monotonic() - started
    unfinished = _wait_finished(image_ids + text_ids, timeout=MIXED_TIMEOUT)

    def spans(ids: list[int]) -> tuple[list[float], list[float]]:
        rows = list(Search.objects.filter(pk__in=ids))
        done = [_seconds(r.finished_at, r.created_at) for r in rows if r.finished_at]
        first = [_seconds(r.results_at, r.created_at) for r in rows if r.results_at]
        return done, first

    text_done, text_first = spans(text_ids)
    image_done, image_first = spans(image_ids)
    if text_done:
        p95 = percentile(text_done, 95)
        verdict = "meets" if p95 <= MIXED_TARGET_P95 and len(text_done) == MIXED_TEXTS else "MISSES"
        text_row = (
            f"p50 {statistics.median(text_done):.2f} s, p95 {p95:.2f} s, "
            f"max {max(text_done):.2f} s (target p95 ≤ {MIXED_TARGET_P95:.0f} s: {verdict}; "
            f"first results {_spread(text_first)})"
        )
    else:
        text_row = "none finished"
    total = len(image_ids) + len(text_ids)
    not_done = Search.objects.filter(pk__in=image_ids + text_ids).exclude(status=Search.Status.DONE)
    return [
        (
            f"mixed: {MIXED_TEXTS} text searches submitted right behind {MIXED_IMAGES} image "
            "searches, submit → done (IQS 1 s)",
            text_row,
        ),
        (
            f"mixed: {MIXED_IMAGES} image searches, submit → done (streams ≈ 15 s)",
            f"{_spread(image_done, 1)}; first results {_spread(image_first, 1)}",
        ),
        (
            "mixed: errors",
            f"{not_done.count()} of {total} not done"
            + (f", {unfinished} still unfinished after {MIXED_TIMEOUT:.0f} s" if unfinished else "")
            + f"  ({_outcomes(image_ids + text_ids)}; submitting all took {submitted:.2f} s)",
        ),
        ("mixed: CPU used", cpu.text()),
    ]


# --- 3. open live pages against other pages ------------------------------------------------


@dataclass
class Load:
    p50_ms: float
    p99_ms: float
    rps: float
    tool: str
    completed: int
    seconds: float
    errors: str = ""

    def text(self) -> str:
        extra = f"; {self.errors}" if self.errors else ""
        if not self.completed:
            return f"no request answered within {self.seconds:.0f} s{extra}"
        return f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, {self.rps:.0f} req/s{extra}"

    def ratio(self, other: Load) -> str:
        if not self.completed or not other.completed:
            return "n/a"
        return f"{self.p99_ms / other.p99_ms:.2f}×"


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


async def _wrk(url: str, seconds: float, headers: dict[str, str]) -> Load:
    header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    proc = await asyncio.create_subprocess_exec(
        "wrk",
        *header_args,
        "-t2",
        f"-c{LOAD_CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await proc.communicate())[0].decode()
    dist = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    done = re.search(r"^\s+(\d+) requests in", out, re.MULTILINE)
    if len(dist) < 2 or rps is None or done is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    errors = [
        line.strip()
        for line in out.splitlines()
        if line.strip().startswith(("Socket errors", "Non-2xx"))
    ]
    return Load(
        _wrk_ms(dist["50"]),
        _wrk_ms(dist["99"]),
        float(rps.group(1)),
        "wrk",
        int(done.group(1)),
        seconds,
        "; ".join(errors),
    )


async def _httpx_load(url: str, seconds: float, headers: dict[str, str]) -> Load:
    import httpx

    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(
        max_connections=LOAD_CONNECTIONS, max_keepalive_connections=LOAD_CONNECTIONS
    )
    async with httpx.AsyncClient(limits=limits, timeout=10, headers=headers) as client:
        deadline = time.monotonic() + seconds

        async def one() -> None:
            nonlocal failures
            while time.monotonic() < deadline:
                start = time.perf_counter()
                try:
                    answer = await client.get(url)
                    if answer.status_code != 200:
                        failures += 1
                except httpx.HTTPError:
                    failures += 1
                latencies.append((time.perf_counter() - start) * 1000)

        began = time.monotonic()
        await asyncio.gather(*(one() for _ in range(LOAD_CONNECTIONS)))
        elapsed = time.monotonic() - began
    return Load(
        percentile(latencies, 50) if latencies else 0.0,
        percentile(latencies, 99) if latencies else 0.0,
        len(latencies) / elapsed,
        "asyncio + httpx",
        len(latencies),
        seconds,
        f"{failures} failed" if failures else "",
    )


async def _load(url: str, seconds: float, headers: dict[str, str] | None = None) -> Load:
    if shutil.which("wrk"):
        return await _wrk(url, seconds, headers or {})
    return await _httpx_load(url, seconds, headers or {})


@dataclass
class LiveStream:
    """One open live page, read by a raw socket so 200 of them cost the bench little."""

    search_id: int
    status: int = 0
    first_frame_ms: float | None = None
    keepalives: int = 0
    closed: bool = False
    error: str = ""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    writer: asyncio.StreamWriter | None = None


async def _follow(stream: LiveStream, port: int, cookie: str) -> None:
    start = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        stream.writer = writer
        writer.write(
            (
                f"GET /searches/{stream.search_id}/live/ HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
                "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        seen = b""
        while stream.first_frame_ms is None:
            chunk = await reader.read(65536)
            if not chunk:
                stream.closed = True
                stream.error = f"closed before the first frame: {seen[:200]!r}"
                return
            seen += chunk
            if not stream.status and b"\r\n" in seen:
                stream.status = int(seen.split(b" ", 2)[1])
                if stream.status != 200:
                    stream.error = f"HTTP {stream.status}"
                    return
            if b"event: results" in seen or b"event: done" in seen:
                stream.first_frame_ms = (time.perf_counter() - start) * 1000
                if b"event: done" in seen:
                    stream.error = "sent done: the search was not running"
        stream.ready.set()
        while chunk := await reader.read(65536):
            stream.keepalives += chunk.count(b": keep-alive")
        stream.closed = True
    except OSError as exc:
        stream.error = f"{type(exc).__name__}: {exc}"
        stream.closed = True
    finally:
        stream.ready.set()


def _last_error(stack: Stack) -> str:
    """The last exception line the web server logged, if any."""
    lines = [
        line.strip()
        for line in stack.log_tail("web", 200_000).splitlines()
        if re.match(r"^[\w.]+(Error|Exception|Timeout)\b.*:", line.strip())
    ]
    return lines[-1][:200] if lines else ""


async def _measure_pages(stack: Stack, cookie: str, seconds: float) -> tuple[Load, Load]:
    """The login page for ``seconds``, then a signed-in page (history) for half as long."""
    login = await _load(f"{stack.web_url}/accounts/login/", seconds)
    history = await _load(f"{stack.web_url}/history/", max(3.0, seconds / 2), {"Cookie": cookie})
    return login, history


async def _streams_async(stack: Stack, ids: list[int], cookie: str, seconds: float) -> list[Row]:
    pids = stack.pids("web")
    await _load(f"{stack.web_url}/accounts/login/", 2)  # warm-up
    await _load(f"{stack.web_url}/history/", 2, {"Cookie": cookie})
    idle_cpu = cpu_seconds(pids)
    await asyncio.sleep(3)
    idle_pct = (cpu_seconds(pids) - idle_cpu) / 3 * 100
    before, history_before = await _measure_pages(stack, cookie, seconds)

    streams = [LiveStream(search_id) for search_id in ids]
    opened_at = time.monotonic()
    tasks = [asyncio.create_task(_follow(s, stack.web_port, cookie)) for s in streams]
    try:
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in streams)), 90)
        open_seconds = time.monotonic() - opened_at
        healthy = [s for s in streams if s.first_frame_ms is not None and not s.closed]
        problems = [s.error for s in streams if s.error]
        await asyncio.sleep(1)  # let the first renders settle
        pids = stack.pids("web")
        cpu_start, wall_start = cpu_seconds(pids), time.monotonic()
        await asyncio.sleep(seconds)
        streams_pct = (cpu_seconds(pids) - cpu_start) / (time.monotonic() - wall_start) * 100
        memory = rss_mb(pids)
        after, history_after = await _measure_pages(stack, cookie, seconds)
        still_open = sum(1 for s in streams if s.first_frame_ms is not None and not s.closed)
        keepalives = sum(s.keepalives for s in streams)
    finally:
        for stream in streams:
            if stream.writer is not None:
                stream.writer.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    firsts = [s.first_frame_ms for s in streams if s.first_frame_ms is not None]
    ratio = after.p99_ms / before.p99_ms if after.completed else math.inf
    verdict = "meets" if ratio <= STREAMS_TARGET_RATIO else "MISSES"
    if len(healthy) < STREAMS:
        verdict += f", but only {len(healthy)} of {STREAMS} streams were open"
    web = f"{stack.web_concurrency} uvicorn workers"
    opened = f"{len(healthy)} of {STREAMS} streaming after {open_seconds:.1f} s"
    if firsts:
        p50, p99 = percentile(firsts, 50), percentile(firsts, 99)
        opened += f"; first frame p50 {p50:.0f} ms, p99 {p99:.0f} ms"
    rows = [
        (
            f"streams: login page, no live pages open ({before.tool}, {LOAD_CONNECTIONS} "
            f"connections, {seconds:.0f} s; {web})",
            before.text(),
        ),
        ("streams: signed-in history page, no live pages open", history_before.text()),
        (f"streams: {STREAMS} live pages opened at once", opened),
        (
            f"streams: web processes' CPU while the streams sit idle ({seconds:.0f} s)",
            f"{streams_pct:.1f}% of one core (no streams, idle: {idle_pct:.1f}%); RSS "
            f"{memory:.0f} MB over {len(pids)} processes",
        ),
        (f"streams: login page with {len(healthy)} live pages open", after.text()),
        (
            "streams: login p99 with / without the open pages",
            f"{ratio:.2f}×  (target ≤ {STREAMS_TARGET_RATIO:.0f}×: {verdict}; p50 "
            f"{after.p50_ms / before.p50_ms:.2f}×, req/s {after.rps / before.rps:.2f}×)",
        ),
        (
            f"streams: signed-in history page with {len(healthy)} live pages open",
            f"{history_after.text()}  (p99 {history_after.ratio(history_before)})",
        ),
        (
            "streams: still open at the end",
            f"{still_open} of {STREAMS}; {keepalives} keep-alive comments received",
        ),
    ]
    if problems:
        from collections import Counter

        kinds = ", ".join(f"{n}× {kind}" for kind, n in Counter(problems).most_common(3))
        last = _last_error(stack)
        rows.append(("streams: live pages refused", kinds + (f"; web log: {last}" if last else "")))
    return rows


def part_streams(stack: Stack, seconds: float) -> list[Row]:
    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from webapp.search.models import Search

    stack.stop("worker")  # nothing may finish the 200 searches below
    user = _user("viewer")
    now = timezone.now()
    Search.objects.bulk_create(
        [
            Search(
                user=user,
                query=f"{WORDS[i % len(WORDS)]} {i}",
                query_sent=f"{WORDS[i % len(WORDS)]} {i}",
                provider="iqs",
                status=Search.Status.RUNNING,
                stage="Asking the provider",
                started_at=now,
                attempts=1,
                lease_token="bench-no-worker",  # noqa: S106 (a lease name)
                lease_expires_at=now + timedelta(days=1),
            )
            for i in range(STREAMS)
        ]
    )
    ids = list(Search.objects.filter(user=user).values_list("pk", flat=True))
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    _close_db()
    return asyncio.run(_streams_async(stack, ids, cookie, seconds))


# --- the run --------------------------------------------------------------------------------


def _selected() -> list[str]:
    raw = os.environ.get("PIPELINE_PARTS", "").strip()
    if not raw:
        return list(PARTS)
    chosen = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        raise SystemExit(f"PIPELINE_PARTS: unknown part(s) {unknown}; known: {', '.join(PARTS)}")
    return chosen


def run() -> None:
    parts = _selected()
    seconds = float(os.environ.get("PIPELINE_LOADGEN_SECONDS", "10"))
    web_concurrency = int(os.environ.get("PIPELINE_WEB_CONCURRENCY", "2"))
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="loupe-bench-pipeline-") as tmp,
        Stack(Path(tmp), web_concurrency=web_concurrency) as stack,
    ):
        try:
            # The 8 s IQS latency of part 1 is past the default 6 s client timeout.
            stack.prepare({"IQS_TIMEOUT_SECONDS": "30"})
            stack.setup_django()
            phases = [f"migrated in {time.monotonic() - began:.0f} s"]
            stack.start_web()
            if {"capacity", "mixed"} & set(parts):
                stack.start_worker()
                mark = time.monotonic()
                left = warm_up(stack, _user("warmup"))
                phases.append(
                    f"warm-up ({len(WORDS)} searches) {time.monotonic() - mark:.0f} s"
                    + (f", {left} unfinished" if left else "")
                )
            concurrency = stack.env.get("WORKER_CONCURRENCY", "128")
            queries = "unique (PIPELINE_FRESH_QUERIES)" if _fresh_queries() else "warmed set"
            rows = [
                (
                    "setup",
                    f"{stack.database}, own Redis, emulator, scripts/worker.sh "
                    f"(WORKER_CONCURRENCY {concurrency}), scripts/web.sh ({web_concurrency} "
                    f"workers); {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
                    f"text queries: {queries}; {', '.join(phases)}",
                )
            ]
            say(rows)
            if "capacity" in parts:
                say(part_capacity(stack))
            if "mixed" in parts:
                say(part_mixed(stack))
            if "streams" in parts:
                say(part_streams(stack, seconds))
        except BaseException:
            for name in ("worker", "web", "emulator", "redis"):
                tail = stack.log_tail(name)
                if tail.strip():
                    print(f"--- {name}.log (end) ---\n{tail}", file=sys.stderr, flush=True)
            raise
    print(f"- pipeline section took {time.monotonic() - began:.0f} s", flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # tear down on kill too
    run()
