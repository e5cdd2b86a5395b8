"""Pages under load (issue 9, point 4): the gallery costs little next to the login page.

In one run:

* a throwaway var/ folder (SQLite, or a throwaway PostgreSQL database when
  DATABASE_URL is set), migrated, with static files collected, holding a user,
  a finished search of 20 results with ready thumbnails and a signed-in session;
* the app's real web server in production shape (scripts/web.sh: gunicorn with
  uvicorn workers, WEB_CONCURRENCY=2) on a free loopback port;
* interleaved rounds at 32 keep-alive connections (LOADGEN_SECONDS each, 10 by
  default) of the login page, the gallery page and its live fragment (the same
  URL with HX-Request: true), with `wrk` when installed, else a small asyncio +
  httpx generator; req/s, p50 and p99 of each, and the ratios to login
  (target ≥ 0.5);
* in the bench process itself: the median time of one page and one fragment
  through Django's test Client with 20 and 50 cards, and their SQL query counts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Card mix of the seeded searches: most thumbnails ready, every 7th unavailable,
# every 11th still loading; every 3rd result came from the library (a score, a
# site-relative page), and one of those is a near-duplicate of the query image;
# a few have no source page, and one has no title.
SIZES = (20, 50)
RENDER_SAMPLES = 40
WARM_UP = 5
TARGET_RATIO = 0.5
CONNECTIONS = 32
SERVED_CARDS = 20
ROUNDS = 3  # each page is measured in ROUNDS slices, interleaved with the others
SECONDS = float(os.environ.get("LOADGEN_SECONDS", "10"))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


# --- the data ---------------------------------------------------------------------------


def seed_search(user: Any, count: int, *, all_ready: bool = False) -> Any:
    """A finished search of ``count`` results; the first 3 are saved in a collection."""
    from datetime import UTC, datetime

    from webapp.collections.models import Collection, CollectionItem
    from webapp.search.models import Result, Search, Thumbnail
    from webapp.search.thumbnails import thumbnail_relative_path, url_hash

    search = Search.objects.create(
        user=user,
        query="lion",
        query_sent="lion",
        provider="iqs",
        status=Search.Status.DONE,
        result_count=count,
        duration_ms=840,
    )
    thumbs, results = [], []
    for n in range(1, count + 1):
        url = f"https://img{n % 5}.example.com/{search.pk}/{n}.jpg"
        digest = url_hash(url)
        state = "ready"
        if not all_ready and n % 7 == 0:
            state = "unavailable"
        elif not all_ready and n % 11 == 0:
            state = "pending"
        ready = state == "ready"
        thumb = Thumbnail(
            url_hash=digest,
            image_url=url,
            state=state,
            file=thumbnail_relative_path(digest) if ready else "",
            width=1000 + n if ready else None,
            height=750 if ready else None,
            thumb_width=320 if ready else None,
            thumb_height=240 if ready else None,
            error_message="" if state != "unavailable" else "The server answered 404.",
        )
        thumbs.append(thumb)
        library = n % 3 == 0
        page = f"/library/images/{n}/" if library else f"https://www.news{n % 13}.example.com/{n}"
        if n % 10 == 8:
            page = ""  # a provider that gives the image's address only
        results.append(
            Result(
                search=search,
                rank=n,
                title="" if n == 13 else f"Picture {n}: a lion <resting> in the long grass & dusk",
                image_url=url,
                host_page_url=page,
                published_time=datetime(2025, 4, 12, 4, 47, tzinfo=UTC) if n % 2 else None,
                width=1024,
                height=768,
                thumbnail=thumb,
                score=round(0.95 - n / 100, 3) if library else None,
                near_duplicate=n == 3,
            )
        )
    Thumbnail.objects.bulk_create(thumbs)
    Result.objects.bulk_create(results)
    collection, _ = Collection.objects.get_or_create(user=user, name="Keepers")
    CollectionItem.objects.bulk_create(
        [
            CollectionItem(
                collection=collection,
                position=r.rank,
                image_url_hash=url_hash(r.image_url),
                image_url=r.image_url,
                title=r.title,
                thumbnail=r.thumbnail,
            )
            for r in results[:3]
        ]
    )
    return search


# --- in-process render time ----------------------------------------------------------------


def render_times(client: Any, url: str, headers: dict[str, str]) -> tuple[list[float], int]:
    """Times of ``RENDER_SAMPLES`` requests after a warm-up, and the query count of one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARM_UP):
        client.get(url, headers=headers)
    times = []
    for _ in range(RENDER_SAMPLES):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append(_ms(start))
        if response.status_code not in (200, 286):
            raise RuntimeError(f"{url} answered {response.status_code}")
    with CaptureQueriesContext(connection) as queries:
        client.get(url, headers=headers)
    return times, len(queries)


def in_process_rows(user: Any) -> list[tuple[str, str]]:
    from django.test import Client

    client = Client()
    client.force_login(user)
    rows = []
    for count in SIZES:
        search = seed_search(user, count)
        for label, headers in (("page", {}), ("fragment", {"HX-Request": "true"})):
            times, queries = render_times(client, f"/searches/{search.pk}/", headers)
            rows.append(
                (
                    f"in-process {label}, {count} cards (test Client, median of {len(times)})",
                    f"{statistics.median(times):.1f} ms, {queries} SQL queries",
                )
            )
    return rows


# --- the load ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Load:
    """One load run against one URL."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_s: float = 0.0  # CPU the server's processes spent meanwhile

    @property
    def cpu_ms_per_request(self) -> float:
        return self.server_cpu_s * 1000 / max(self.requests, 1)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(output: str, percent: str) -> float:
    match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {percent}% latency in wrk's output:\n{output}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def _wrk(url: str, headers: dict[str, str], seconds: float) -> Load:
    command = [
        "wrk",
        "-t2",
        f"-c{CONNECTIONS}",
        f"-d{seconds:.0f}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s)", output)
    if done is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: .*", output)
    return Load(
        requests=int(done.group(1)),
        seconds=float(done.group(2)) * _UNITS_MS[done.group(3)] / 1000,
        p50_ms=_wrk_ms(output, "50"),
        p99_ms=_wrk_ms(output, "99"),
        errors=(int(errors.group(1)) if errors else 0) + (1 if socket_errors else 0),
    )


async def _httpx_load(url: str, headers: dict[str, str], seconds: float) -> Load:
    """The fallback generator: CONNECTIONS keep-alive connections, each a loop of GETs."""
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10) as client:
        deadline = time.perf_counter() + seconds

        async def connection() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(url)
                latencies.append(_ms(start))
                errors += response.status_code >= 400

        started = time.perf_counter()
        await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return Load(len(latencies), elapsed, statistics.median(latencies), cuts[98], errors)


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children, from /proc.

    On a busy machine the request rate moves with everything else that runs;
    the server's CPU time per request does not, so it is printed too.
    """
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue  # gone meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pending += [int(child) for child in children]
    return total


def load(url: str, headers: dict[str, str], seconds: float, server_pid: int) -> Load:
    cpu_before = process_tree_cpu(server_pid)
    if shutil.which("wrk"):
        result = _wrk(url, headers, seconds)
    else:
        result = asyncio.run(_httpx_load(url, headers, seconds))
    return dataclasses.replace(result, server_cpu_s=process_tree_cpu(server_pid) - cpu_before)


def combined(runs: list[Load]) -> Load:
    """Rounds of one page as one figure: the total rate, the median p50, the worst p99."""
    return Load(
        requests=sum(r.requests for r in runs),
        seconds=sum(r.seconds for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=max(r.p99_ms for r in runs),
        errors=sum(r.errors for r in runs),
        server_cpu_s=sum(r.server_cpu_s for r in runs),
    )


# --- the server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return response.status, response.read().decode()


@contextmanager
def web_server(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """scripts/web.sh on a free loopback port, as production runs it.

    Yields its base URL and the process ID of gunicorn's master.
    """
    port = _free_port()
    env = {
        **env,
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "WEB_ACCESS_LOG": "/dev/null",
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["scripts/web.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(server, f"{base}/accounts/login/", log)
        yield base, server.pid
    finally:
        server.terminate()  # gunicorn stops its workers gracefully on SIGTERM
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_ready(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the web server exited:\n{log.read_text()[-4000:]}")
        try:
            if _get(url)[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the web server did not answer within 60 s:\n{log.read_text()[-4000:]}")


def served_rows(base: str, server_pid: int, cookie: str, search_id: int) -> list[tuple[str, str]]:
    gallery = f"{base}/searches/{search_id}/"
    signed_in = {"Cookie": cookie}
    targets = {
        "login": (f"{base}/accounts/login/", {}),
        "gallery": (gallery, signed_in),
        "fragment": (gallery, {**signed_in, "HX-Request": "true"}),
    }
    # The session must really open the gallery: a redirect to the login page would
    # count as a fast success.
    for name in ("gallery", "fragment"):
        url, headers = targets[name]
        status, html = _get(url, headers)
        if status not in (200, 286) or html.count('class="card"') != SERVED_CARDS:
            raise RuntimeError(f"the {name} did not show {SERVED_CARDS} cards (HTTP {status})")
    for url, headers in targets.values():
        load(url, headers, 2, server_pid)  # warm-up: worker imports, template caches, connections
    runs: dict[str, list[Load]] = {name: [] for name in targets}
    for _ in range(ROUNDS):
        for name, (url, headers) in targets.items():
            runs[name].append(load(url, headers, SECONDS / ROUNDS, server_pid))
    totals = {name: combined(each) for name, each in runs.items()}
    tool = "wrk" if shutil.which("wrk") else "asyncio + httpx"
    rows = [
        (
            f"served: {name} ({tool}, {CONNECTIONS} connections, {ROUNDS} interleaved rounds)",
            f"{t.rate:.0f} req/s, p50 {t.p50_ms:.1f} ms, p99 {t.p99_ms:.1f} ms; "
            f"server CPU {t.cpu_ms_per_request:.2f} ms a request"
            + (f"; {t.errors} errors" if t.errors else ""),
        )
        for name, t in totals.items()
    ]
    login = totals["login"].rate
    for name in ("gallery", "fragment"):
        ratio = totals[name].rate / login
        verdict = "meets" if ratio >= TARGET_RATIO else "misses"
        rows.append(
            (
                f"served: {name} / login, {SERVED_CARDS} cards",
                f"{ratio:.2f} ({verdict} the target ≥ {TARGET_RATIO})",
            )
        )
    return rows


# --- the database and the environment -------------------------------------------------------


@contextmanager
def throwaway_database(var_dir: Path) -> Iterator[dict[str, str]]:
    """The environment for this process and the server: SQLite under var_dir, or, when
    DATABASE_URL is set, a throwaway PostgreSQL database next to the one it names."""
    env = {
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "LOUPE_VAR_DIR": str(var_dir),
        "MEDIA_ROOT": str(var_dir / "media"),
        "SECRET_KEY": "bench-only",
        "LOG_LEVEL": "WARNING",
        # testserver: Django's test Client, for the in-process figures.
        "ALLOWED_HOSTS": "testserver,127.0.0.1",
    }
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        os.environ.pop("DATABASE_URL", None)
        yield env
        return
    import psycopg

    name = f"loupe_bench_pages_{os.getpid()}"
    base, _, _ = url.rpartition("/")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**env, "DATABASE_URL": f"{base}/{name}"}
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # Pages link their CSS through the manifest storage, as in production.
    call_command("collectstatic", interactive=False, verbosity=0)


def session_cookie(user: Any) -> str:
    """A Cookie header for a signed-in session of ``user`` (stored in the database)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


def run() -> list[tuple[str, str]]:
    with (
        tempfile.TemporaryDirectory(prefix="loupe-bench-pages-") as tmp,
        throwaway_database(Path(tmp)) as env,
    ):
        setup_django(env)
        from django.contrib.auth.models import User
        from django.db import connections

        user = User.objects.create_user("bench", password="bench-pass-123")  # noqa: S106 (throwaway bench DB)
        rows = in_process_rows(user)
        served = seed_search(user, SERVED_CARDS, all_ready=True)
        cookie = session_cookie(user)
        connections.close_all()  # the server's workers have the database to themselves
        with web_server(dict(os.environ), Path(tmp) / "web.log") as (base, pid):
            rows += served_rows(base, pid, cookie, served.pk)
    return rows


if __name__ == "__main__":
    for label, value in run():
        print(f"- {label}: {value}", flush=True)
