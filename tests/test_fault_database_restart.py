"""A PostgreSQL restart (``pg_ctl restart -m fast``) while searches are in flight.

A PostgreSQL of the test's own (initdb in a temporary folder, on a free port), so the
restart disturbs nothing else; a production-shape worker (scripts/worker.sh) and a
Redis of its own. Every search must end by itself as done, with its 20 results once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.processes import RedisServer, free_port, wait_for
from tests.fixtures.services import skip_or_fail
from tests.test_end_to_end_worker import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SEARCHES = 12


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        skip_or_fail(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return str(found[-1])


class OwnPostgres:
    """initdb + pg_ctl in a folder of the test's own; run as the postgres user if root."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/loupe"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust")
        self.pg_ctl(
            "start", "-w", "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        )
        self._run(
            _pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "loupe"
        )

    def pg_ctl(self, action: str, *options: str) -> None:
        log = str(self.folder / "postgres.log")
        self._run(_pg_bin("pg_ctl"), action, "-D", str(self.data), "-l", log, *options)

    def query(self, sql: str) -> str:
        result = subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-tAc",
                sql,
                "loupe",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return result.stdout.strip()

    def stop(self) -> None:
        if self.data.exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.pg_ctl("stop", "-m", "immediate")


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    # Not under pytest's tmp_path: its parents are private to root, and the server
    # runs as the postgres user, who must reach the folder.
    folder = Path(tempfile.mkdtemp(prefix="loupe-pg-"))
    server = OwnPostgres(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_searches_in_flight_survive_a_database_restart(
    own_postgres: OwnPostgres, emulator: Any, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "DATABASE_URL": own_postgres.url,
        "CELERY_BROKER_URL": redis.url,
        "LOUPE_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "SECRET_KEY": "faults-only",
        "IQS_API_KEY": "faults-key",
        "IQS_BASE_URL": emulator.url,
        "FETCH_PRIVATE_ALLOWLIST": f"127.0.0.1:{emulator.port}",
        "WORKER_CONCURRENCY": "32",
        "SEARCH_LEASE_SECONDS": "3",
        "SEARCH_SWEEP_SECONDS": "0.5",
    }
    python = str(ROOT / ".venv/bin/python") if (ROOT / ".venv/bin/python").exists() else "python"
    subprocess.run(
        [python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        ["./scripts/worker.sh", "--without-heartbeat"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        emulator.set_timing(iqs_latency=1.5)
        make_searches = (
            "from django.contrib.auth.models import User\n"
            "from webapp.search.services import search_create\n"
            "user = User.objects.create_user('restart')\n"
            f"for _ in range({SEARCHES}): search_create(user=user, query='lion', provider='iqs')\n"
        )
        subprocess.run(
            [python, "manage.py", "shell", "-c", make_searches], cwd=ROOT, env=env, check=True
        )
        wait_for(
            lambda: (
                int(own_postgres.query("SELECT count(*) FROM search_search WHERE status='running'"))
                > 0
            ),
            60,
            "searches to start",
        )
        own_postgres.pg_ctl("restart", "-m", "fast", "-w")

        def all_finished() -> bool:
            unfinished = own_postgres.query(
                "SELECT count(*) FROM search_search WHERE status IN ('queued', 'running')"
            )
            return int(unfinished) == 0

        deadline = time.monotonic() + 120
        while not all_finished():
            if time.monotonic() > deadline:
                pytest.fail((tmp_path / "worker.log").read_text(errors="replace")[-4000:])
            time.sleep(0.5)
        outcomes = own_postgres.query(
            "SELECT status, result_count,"
            " (SELECT count(*) FROM search_result r WHERE r.search_id = s.id),"
            " (SELECT count(DISTINCT rank) FROM search_result r WHERE r.search_id = s.id)"
            " FROM search_search s ORDER BY id"
        ).splitlines()
        assert outcomes == ["done|20|20|20"] * SEARCHES, (tmp_path / "worker.log").read_text()[
            -4000:
        ]
    finally:
        emulator.reset()
        worker.kill()
        worker.wait(10)
        log.close()
        redis.kill()
