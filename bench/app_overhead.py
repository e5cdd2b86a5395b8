"""App overhead of a text search on the embedded default.

Submit (the real form POST through Django) → Search saved → queued on the disk
broker → a real Celery worker process claims it → the IQS client calls the
emulator over HTTP → results stored. The provider's own time (the HTTP round
trip, as the client measured it) is subtracted, leaving what Loupe adds.

Runs in its own temporary var/ folder (SQLite file + disk broker), so it never
touches a developer's data or a running `make run`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_django(var_dir: Path, emulator_url: str, emulator_port: int) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "LOUPE_VAR_DIR": str(var_dir),
            "IQS_API_KEY": "bench-key",
            "IQS_BASE_URL": emulator_url,
            "DASHSCOPE_API_KEY": "bench-key",
            "DASHSCOPE_BASE_URL": f"{emulator_url}/compatible-mode/v1",
            "FETCH_PRIVATE_ALLOWLIST": f"127.0.0.1:{emulator_port}",
            "SECRET_KEY": "bench-only",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "testserver",  # the host name of Django's test Client
        }
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def start_worker(var_dir: Path) -> subprocess.Popen[bytes]:
    log = (var_dir / "worker.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "webapp",
            "worker",
            "--concurrency",
            "2",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_done(search_id: int, timeout: float = 30.0) -> None:
    from webapp.search.models import Search

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Search.objects.filter(pk=search_id, status__in=Search.FINISHED).exists():
            return
        time.sleep(0.005)
    raise TimeoutError(f"search {search_id} did not finish")


def run(samples: int = 30) -> list[tuple[str, str]]:
    from webapp.emulator.server import start_emulator

    emulator = start_emulator()
    with tempfile.TemporaryDirectory(prefix="loupe-bench-") as tmp:
        var_dir = Path(tmp)
        setup_django(var_dir, emulator.url, emulator.port)
        from django.contrib.auth.models import User
        from django.test import Client

        from webapp.search.models import Search

        user = User.objects.create_user("bench", password="bench-pass-123")  # noqa: S106 (throwaway bench DB)
        client = Client()
        client.force_login(user)
        worker = start_worker(var_dir)
        try:
            overheads, totals, posts, dispatch, work = [], [], [], [], []
            for index in range(samples + 3):
                started = time.perf_counter()
                response = client.post("/searches/", {"query": "lion"})
                posts.append((time.perf_counter() - started) * 1000)
                search_id = int(response["Location"].strip("/").split("/")[-1])
                wait_done(search_id)
                search = Search.objects.get(pk=search_id)
                if search.status != "done" or search.results_at is None:
                    raise RuntimeError(f"bench search failed: {search.error_message}")
                if index < 3:
                    continue  # warm-up: worker start, first thumbnails, caches
                stored_ms = (search.results_at - search.created_at).total_seconds() * 1000
                totals.append(stored_ms)
                assert search.started_at is not None
                dispatch.append((search.started_at - search.created_at).total_seconds() * 1000)
                work.append(
                    (search.results_at - search.started_at).total_seconds() * 1000
                    - (search.provider_ms or 0)
                )
                overheads.append(stored_ms - (search.provider_ms or 0))
        except Exception:
            print((var_dir / "worker.log").read_text()[-4000:])
            raise
        finally:
            worker.terminate()
            worker.wait(timeout=15)
            emulator.stop()
    return [
        (
            "text search: app overhead, submit→results stored minus provider time (median)",
            f"{statistics.median(overheads):.1f} ms  (target ≤ 30 ms; p90 "
            f"{statistics.quantiles(overheads, n=10)[-1]:.1f} ms; n={len(overheads)})",
        ),
        (
            "text search: submit→results stored incl. provider (median)",
            f"{statistics.median(totals):.1f} ms",
        ),
        ("text search: form POST handling (median)", f"{statistics.median(posts[3:]):.1f} ms"),
        (
            "text search: of which queue wait, saved→worker claimed (median)",
            f"{statistics.median(dispatch):.1f} ms",
        ),
        (
            "text search: of which worker, claimed→results stored minus provider (median)",
            f"{statistics.median(work):.1f} ms",
        ),
    ]


if __name__ == "__main__":
    for label, value in run():
        print(f"- {label}: {value}", flush=True)
