"""Faults with real processes: a worker killed with SIGKILL mid-search, a broker that is
down when the search is made, a broker restarted without persistence. Each search must
end by itself, with its results, none duplicated.

The worker runs exactly as production runs it (scripts/worker.sh: the threads pool),
with short leases so the test takes seconds rather than a minute.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User

from tests.fixtures.processes import RedisServer, wait_for
from tests.fixtures.services import running_in_ci
from tests.test_end_to_end_worker import ROOT, _database_url, _drop_broker_connections
from webapp.celery import app as celery_app
from webapp.search.models import Result, Search
from webapp.search.services import search_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.kill()


@pytest.fixture
def use_broker(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point this test process's Celery at the test's own Redis."""
    # Celery reads CELERY_BROKER_URL from the environment before its own setting.
    monkeypatch.setenv("CELERY_BROKER_URL", redis_server.url)
    if running_in_ci() and django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.fail("CI=true needs DATABASE_URL=postgres://… for the fault tests")
    conf = celery_app.conf
    saved = (conf.broker_url, conf.broker_transport, conf.broker_transport_options)
    conf.update(
        broker_url=redis_server.url,
        # Without a server the embedded default names its own disk transport; not here.
        broker_transport=None,
        broker_transport_options={"socket_connect_timeout": 1, "socket_timeout": 3},
    )
    _drop_broker_connections()
    yield redis_server.url
    conf.update(broker_url=saved[0], broker_transport=saved[1], broker_transport_options=saved[2])
    _drop_broker_connections()


class Workers:
    """Starts production-shape workers (scripts/worker.sh) and kills them."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            ["./scripts/worker.sh", "--without-heartbeat"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-3000:]
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)


@pytest.fixture
def workers(use_broker: str, emulator: Any, tmp_path: Path, settings: Any) -> Iterator[Workers]:
    settings.MEDIA_ROOT = tmp_path / "media"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": use_broker,
        "LOUPE_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "SECRET_KEY": "faults-only",
        "IQS_API_KEY": "faults-key",
        "IQS_BASE_URL": emulator.url,
        "FETCH_PRIVATE_ALLOWLIST": f"127.0.0.1:{emulator.port}",
        "WORKER_CONCURRENCY": "8",
        # Short leases and sweeps: the same mechanism, in seconds rather than a minute.
        "SEARCH_LEASE_SECONDS": "3",
        "SEARCH_SWEEP_SECONDS": "0.5",
        "SEARCH_DISPATCH_GRACE_SECONDS": "1",
        "SEARCH_REDISPATCH_SECONDS": "5",
    }
    started = Workers(env, tmp_path)
    yield started
    started.stop_all()
    emulator.reset()


def _wait_until_finished(search: Search, seconds: float, workers: Workers) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        search.refresh_from_db()
        if search.is_finished:
            return
        time.sleep(0.2)
    raise AssertionError(f"search still {search.status} after {seconds} s\n{workers.logs()}")


def _assert_complete_and_unduplicated(search: Search, workers: Workers) -> None:
    assert search.status == "done", f"{search.error_message}\n{workers.logs()}"
    ranks = list(
        Result.objects.filter(search=search).order_by("rank").values_list("rank", flat=True)
    )
    assert ranks == list(range(1, 21))
    assert search.result_count == 20
    urls = Result.objects.filter(search=search).values_list("image_url", flat=True)
    assert len(set(urls)) == 20


def test_a_search_whose_worker_is_killed_finishes_on_the_next_worker(
    owner: User, workers: Workers, redis_server: RedisServer, emulator: Any
) -> None:
    redis_server.start()
    emulator.set_timing(iqs_latency=4.0)  # the worker dies while it waits on IQS
    first = workers.start()
    search = search_create(user=owner, query="lion", provider="iqs")
    wait_for(lambda: Search.objects.get(pk=search.pk).status == "running", 60, "the claim")
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    emulator.set_timing(iqs_latency=0.2)
    workers.start()
    _wait_until_finished(search, 60, workers)
    _assert_complete_and_unduplicated(search, workers)
    assert search.attempts == 2


def test_a_search_made_while_the_broker_is_down_starts_when_it_is_back(
    owner: User, workers: Workers, redis_server: RedisServer
) -> None:
    search = search_create(user=owner, query="lion", provider="iqs")
    search.refresh_from_db()
    assert (search.status, search.dispatched_at, search.error_code) == ("queued", None, "")

    redis_server.start()
    workers.start()
    _wait_until_finished(search, 60, workers)
    _assert_complete_and_unduplicated(search, workers)


def test_searches_a_broker_forgot_in_a_restart_are_sent_again(
    owner: User, workers: Workers, redis_server: RedisServer
) -> None:
    redis_server.start()
    searches = [search_create(user=owner, query="lion", provider="iqs") for _ in range(3)]
    for search in searches:
        search.refresh_from_db()
        assert search.dispatched_at is not None  # the messages reached Redis...
    redis_server.kill()  # ...which restarts without persistence: they are gone
    redis_server.start()

    workers.start()
    for search in searches:
        _wait_until_finished(search, 60, workers)
        _assert_complete_and_unduplicated(search, workers)


def test_searches_in_flight_when_the_broker_restarts_all_finish(
    owner: User, workers: Workers, redis_server: RedisServer, emulator: Any
) -> None:
    redis_server.start()
    emulator.set_timing(iqs_latency=3.0)
    workers.start()
    searches = [search_create(user=owner, query="lion", provider="iqs") for _ in range(6)]
    wait_for(lambda: Search.objects.filter(status="running").exists(), 60, "the first claims")
    redis_server.kill()  # running ones lose their broker connection; queued ones their messages
    redis_server.start()
    emulator.set_timing(iqs_latency=0.2)
    for search in searches:
        _wait_until_finished(search, 90, workers)
        _assert_complete_and_unduplicated(search, workers)
