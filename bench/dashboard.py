"""Server time of the staff dashboard with 100,000 searches and 2,000,000 results (issue 6).

Each database runs in a child process of its own, because Django reads
DATABASE_URL once per process:
- SQLite: a throwaway var/ folder (LOUPE_VAR_DIR) holding a fresh database file;
- PostgreSQL: a database named ``loupe_bench``, created and dropped here, on the
  server of ``BENCH_POSTGRES_URL`` (default ``postgres://postgres@127.0.0.1:5432``),
  only when that server answers.
The child fills the database with bulk inserts (COPY on PostgreSQL), then times
GET /dashboard/ through Django's test Client as a staff user: the page's whole
server time (every query, the charts, the template), not the live queue probe,
which the page loads separately and which is bounded by its own timeout.

    python -m bench.dashboard            # both databases, as make bench prints them
    python -m bench.dashboard --keep DIR  # build a SQLite copy in DIR and keep it
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
SEARCHES = 100_000
RESULTS_PER_SEARCH = 20
USERS = 200
DAYS = 60
WARM_UP = 3
SAMPLES = 15
TARGET_MS = 300
PG_BENCH_DB = "loupe_bench"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"

ERROR_CODES = [
    ("Retrieval.Throttling.User", 5),
    ("Retrieval.Arrears", 1),
    ("Timeout", 3),
    ("ProviderHttpError", 2),
    ("Retrieval.TestUserQueryPerDayExceeded", 1),
    ("Internal", 1),
]
WORDS = [
    *[
        "lion",
        "tiger",
        "sunset",
        "mountain",
        "river",
        "cat",
        "dog",
        "bridge",
        "city",
        "night",
        "beach",
        "forest",
        "car",
        "robot",
    ],
    *[
        "flower",
        "tea",
        "temple",
        "snow",
        "train",
        "street",
        "market",
        "garden",
        "panda",
        "dragon",
        "lantern",
        "festival",
    ],
]


# --- the parent: one child process per database ------------------------------------


def _pg_server_url() -> str | None:
    url = os.environ.get("BENCH_POSTGRES_URL", "").strip() or DEFAULT_PG_URL
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1.0):
            return url
    except OSError:
        return None


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _child(backend: str, database_url: str, var_dir: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "LOUPE_VAR_DIR": str(var_dir),
            "SECRET_KEY": "bench-only",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    env.pop("CELERY_BROKER_URL", None)
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    completed = subprocess.run(
        [sys.executable, "-m", "bench.dashboard", "--child", backend],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"dashboard bench ({backend}) failed:\n{completed.stderr[-4000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def _pg_admin(server_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)  # fixed text, no user input


def _lines(backend: str, figures: dict[str, Any]) -> list[tuple[str, str]]:
    p50 = figures["p50_ms"]
    verdict = "meets" if p50 <= TARGET_MS else "MISSES"
    return [
        (
            f"dashboard on {backend}: server time of GET /dashboard/ (p50)",
            f"{p50:.1f} ms  (target ≤ {TARGET_MS} ms: {verdict}; p90 {figures['p90_ms']:.1f} ms; "
            f"{figures['queries']} queries; n={figures['samples']}; CPU time p50 "
            f"{figures['cpu_p50_ms']:.1f} ms, load average {figures['load']:.1f} on "
            f"{os.cpu_count()} CPUs)",
        ),
        (
            f"dashboard on {backend}: data",
            f"{figures['searches']:,} searches, {figures['results']:,} results, built in "
            f"{figures['build_s']:.0f} s",
        ),
        (
            f"dashboard on {backend}: live queue panel with no worker answering",
            f"{figures['queue_panel_ms']:.0f} ms (bounded by the inspect timeout)",
        ),
    ]


def run() -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="loupe-bench-dash-") as tmp:
        lines += _lines("SQLite", _child("sqlite", "", Path(tmp)))
    server = _pg_server_url()
    if server is None:
        lines.append(("dashboard on PostgreSQL", "skipped: no PostgreSQL server answers"))
        return lines
    _pg_admin(server, f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
    _pg_admin(server, f"CREATE DATABASE {PG_BENCH_DB}")
    try:
        with tempfile.TemporaryDirectory(prefix="loupe-bench-dash-") as tmp:
            figures = _child("postgres", _with_database(server, PG_BENCH_DB), Path(tmp))
        lines += _lines("PostgreSQL", figures)
    finally:
        _pg_admin(server, f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
    return lines


# --- the child: build the data, then time the page ----------------------------------


def _search_rows(now: datetime, user_ids: list[int]) -> list[dict[str, Any]]:
    """Searches spread over DAYS days, oldest first (ids grow with time, as in real use)."""
    rng = random.Random(6)
    queries = [f"{rng.choice(WORDS)} {rng.choice(WORDS)}" for _ in range(3000)]
    weights = [1 / (rank + 1) for rank in range(len(queries))]  # a few queries dominate
    codes, code_weights = zip(*ERROR_CODES, strict=True)
    offsets = sorted((rng.random() * DAYS * 86400 for _ in range(SEARCHES)), reverse=True)
    rows: list[dict[str, Any]] = []
    for index, offset in enumerate(offsets):
        created = now - timedelta(seconds=offset)
        provider = rng.choices(["iqs", "image_search", "library"], [70, 25, 5])[0]
        roll = rng.random()
        status = "done" if roll < 0.93 else "failed" if roll < 0.97 else "partial"
        if index >= SEARCHES - 12:  # a few are still in flight, some of them stuck
            status = "queued" if index % 2 else "running"
        search_ms = rng.randint(150, 2500)
        provider_ms = search_ms + rng.randint(30, 400)
        duration = provider_ms + rng.randint(80, 3000)
        image = provider == "image_search"
        row: dict[str, Any] = {
            "user_id": user_ids[int(rng.paretovariate(1.2)) % len(user_ids)],
            "provider": provider,
            "emulated": rng.random() < 0.03,
            "query": rng.choices(queries, weights)[0],
            "status": status,
            "created_at": created,
            "attempts": 0 if status == "queued" else 1,
            "tool_calls": 1 if image and status != "queued" else 0,
            "input_tokens": rng.randint(1200, 3200) if image else None,
            "output_tokens": rng.randint(80, 600) if image else None,
        }
        row["query_sent"] = row["query"]
        if status != "queued":
            row["started_at"] = created + timedelta(milliseconds=rng.randint(3, 40))
        if status in ("done", "partial", "failed"):
            row["finished_at"] = created + timedelta(milliseconds=duration)
            row["duration_ms"] = duration
        if status in ("done", "partial"):
            row.update(
                search_time_ms=search_ms,
                provider_ms=provider_ms,
                result_count=RESULTS_PER_SEARCH,
                request_id=f"req-{index}",
            )
        if status == "failed":
            row["error_code"] = rng.choices(codes, code_weights)[0]
            row["error_message"] = "The provider refused the search."
        rows.append(row)
    return rows


def _build(now: datetime) -> tuple[int, int]:
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from webapp.search.models import Result, Search, UserSearchLimit

    User.objects.create_user("bench-staff", password="bench-pass-123", is_staff=True)  # noqa: S106 (throwaway bench DB)
    User.objects.bulk_create(User(username=f"user{n:03d}") for n in range(USERS))
    user_ids = list(User.objects.filter(is_staff=False).values_list("pk", flat=True))
    UserSearchLimit.objects.bulk_create(
        UserSearchLimit(user_id=pk, searches_per_day=50) for pk in user_ids[:20]
    )
    # bulk_create honours every field's default; only created_at must be ours.
    created_field = Search._meta.get_field("created_at")
    created_field.auto_now_add = False
    try:
        with transaction.atomic():
            Search.objects.bulk_create(
                (Search(**row) for row in _search_rows(now, user_ids)), batch_size=2000
            )
    finally:
        created_field.auto_now_add = True
    search_ids = list(Search.objects.order_by("pk").values_list("pk", flat=True))
    # Raw inserts (COPY on PostgreSQL) for speed; every column this bench does
    # not set gets its field's default, so a new Result column keeps it working.
    ours = ["search_id", "rank", "title", "image_url", "host_page_url", "width", "height"]
    others = [
        field
        for field in Result._meta.concrete_fields
        if not field.primary_key and field.column not in ours
    ]
    defaults = tuple(field.get_db_prep_save(field.get_default(), connection) for field in others)
    columns = ", ".join([*ours, *(field.column for field in others)])
    placeholders = ", ".join(["%s"] * (len(ours) + len(others)))

    def result_rows() -> Any:
        for search_id in search_ids:
            for rank in range(1, RESULTS_PER_SEARCH + 1):
                yield (
                    search_id,
                    rank,
                    f"Result {rank} of search {search_id}",
                    f"https://img{rank % 7}.example.com/{search_id}/{rank}.jpg",
                    f"https://news{rank % 11}.example.com/story/{search_id}",
                    1280,
                    720,
                    *defaults,
                )

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY search_result ({columns}) FROM STDIN") as copy:
                for row in result_rows():
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO search_result ({columns}) VALUES ({placeholders})",  # noqa: S608 (constant)
                result_rows(),
            )
    if connection.vendor == "postgresql":
        # What autovacuum would have done by the time a real table held this much.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return len(search_ids), len(search_ids) * RESULTS_PER_SEARCH


def _child_main(backend: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # The page renders {% static %} through the manifest storage, as in production.
    call_command("collectstatic", interactive=False, verbosity=0)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    started = time.perf_counter()
    searches, results = _build(timezone.now())
    build_s = time.perf_counter() - started

    client = Client()
    client.force_login(User.objects.get(username="bench-staff"))
    timings: list[float] = []
    cpu: list[float] = []
    for index in range(WARM_UP + SAMPLES):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get("/dashboard/")
        elapsed = (time.perf_counter() - started) * 1000
        elapsed_cpu = (time.process_time() - started_cpu) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET /dashboard/ answered {response.status_code}")
        if index >= WARM_UP:
            timings.append(elapsed)
            cpu.append(elapsed_cpu)
    queries = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        client.get("/dashboard/")
    started = time.perf_counter()
    client.get("/dashboard/?panel=queues", headers={"HX-Request": "true"})
    queue_panel_ms = (time.perf_counter() - started) * 1000
    print(
        json.dumps(
            {
                "backend": backend,
                "p50_ms": statistics.median(timings),
                "p90_ms": statistics.quantiles(timings, n=10)[-1],
                "samples": len(timings),
                "queries": queries,
                "cpu_p50_ms": statistics.median(cpu),
                "load": os.getloadavg()[0],
                "searches": searches,
                "results": results,
                "build_s": build_s,
                "queue_panel_ms": queue_panel_ms,
            }
        )
    )


def _keep(folder: Path) -> None:
    """Build a SQLite copy in ``folder`` and leave it, to study query plans."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "LOUPE_VAR_DIR": str(folder),
            "SECRET_KEY": "bench-only",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    print(_build(timezone.now()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["sqlite", "postgres"])
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    if args.child:
        _child_main(args.child)
    elif args.keep:
        _keep(args.keep)
    else:
        for label, value in run():
            print(f"- {label}: {value}", flush=True)
