"""Rolling restarts of the web server (SIGHUP, as a deploy does) lose no request.

The production web server (scripts/web.sh) serves a stream of keep-alive requests
from 16 clients while its workers are restarted twice; every request must be
answered. Stock uvicorn workers reset idle keep-alive connections when they stop
(about 10 failed requests a run here); webapp/web_server.py drains them instead.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import web_server
from tests.test_end_to_end_worker import _database_url

pytestmark = pytest.mark.django_db(transaction=True)


async def _load_while_restarting(base: str, master_pid: int, seconds: float) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    stop = time.monotonic() + seconds

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            while time.monotonic() < stop:
                try:
                    response = await http.get("/accounts/login/")
                    outcomes[str(response.status_code)] += 1
                except httpx.HTTPError as exc:
                    outcomes[type(exc).__name__] += 1

    async def restart_twice() -> None:
        for _ in range(2):
            await asyncio.sleep(seconds / 3)
            os.kill(master_pid, signal.SIGHUP)

    await asyncio.gather(restart_twice(), *(client() for _ in range(16)))
    return outcomes


def test_restarting_the_web_workers_under_load_drops_no_request(tmp_path: Path) -> None:
    env = {
        "DJANGO_SETTINGS_MODULE": "webapp.settings_test",
        "DATABASE_URL": _database_url(),
        "LOUPE_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "restart-test",
        "WEB_CONCURRENCY": "2",
    }
    with web_server(env, tmp_path / "web.log") as (base, master_pid):
        outcomes = asyncio.run(_load_while_restarting(base, master_pid, 9))
    assert set(outcomes) == {"200"}, outcomes
    assert outcomes["200"] > 100
