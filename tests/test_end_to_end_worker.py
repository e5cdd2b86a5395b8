"""One search through everything real: the service queues on commit, a real Celery
worker process takes it from a real broker (Redis in CI, the disk broker otherwise),
calls the emulator over HTTP, fetches thumbnails, and marks the search done."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from kombu import pools as kombu_pools

from tests.fixtures.services import running_in_ci
from webapp.celery import app as celery_app
from webapp.search.services import search_create

ROOT = Path(__file__).resolve().parents[1]


def _database_url() -> str:
    db = django_settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The broker for this test, as env for the worker; the test process uses it too."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    if running_in_ci():
        if not url.startswith("redis://"):
            pytest.fail("CI=true needs CELERY_BROKER_URL=redis://… for the end-to-end test")
        if django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
            pytest.fail("CI=true needs DATABASE_URL=postgres://… for the end-to-end test")
    saved = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    _drop_broker_connections()
    env = {"LOUPE_VAR_DIR": str(tmp_path / "var")}
    if url.startswith("redis://"):
        env["CELERY_BROKER_URL"] = url
    else:
        # The disk broker, in a folder of this test's own so no other worker takes the task.
        folder = tmp_path / "var" / "broker" / "out"
        folder.mkdir(parents=True)
        celery_app.conf.update(
            broker_url="filesystem://",
            broker_transport_options={
                "data_folder_in": str(folder),
                "data_folder_out": str(folder),
                "polling_interval": 0.05,
            },
        )
    yield env
    celery_app.conf.update(broker_url=saved[0], broker_transport_options=saved[1])
    _drop_broker_connections()


def _drop_broker_connections() -> None:
    """Pooled connections keep the broker options they were made with; start afresh."""
    # kombu keeps producer pools globally, keyed by connection; reset() closes
    # and forgets them all. Celery has no public way to forget its own two.
    kombu_pools.reset()
    celery_app._pool = None  # type: ignore[attr-defined]
    celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]


@pytest.fixture
def worker(
    broker: dict[str, str], emulator: Any, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        **broker,
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "DATABASE_URL": _database_url(),
        "IQS_API_KEY": "e2e-key",
        "IQS_BASE_URL": emulator.url,
        "DASHSCOPE_API_KEY": "e2e-key",
        "DASHSCOPE_BASE_URL": f"{emulator.url}/compatible-mode/v1",
        "FETCH_PRIVATE_ALLOWLIST": f"127.0.0.1:{emulator.port}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "SECRET_KEY": "e2e-only",
    }
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "webapp",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.mark.django_db(transaction=True)
def test_a_search_runs_on_a_real_worker(
    owner: User, worker: subprocess.Popen[bytes], tmp_path: Path, settings: Any
) -> None:
    settings.IQS_EMULATED = False
    search = search_create(user=owner, query="lion")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        search.refresh_from_db()
        if search.is_finished or worker.poll() is not None:
            break
        time.sleep(0.2)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert search.status == "done", f"{search.status} {search.error_message}\n{log[-3000:]}"
    assert search.result_count == 20
    assert search.results.filter(thumbnail__state="ready").count() == 20
    assert search.duration_ms is not None


@pytest.mark.django_db(transaction=True)
def test_an_image_search_streams_on_a_real_worker(
    owner: User, worker: subprocess.Popen[bytes], emulator: Any, tmp_path: Path, settings: Any
) -> None:
    from tests.search.test_image_upload import jpeg_bytes

    settings.DASHSCOPE_EMULATED = False
    settings.MEDIA_ROOT = tmp_path / "media"  # the worker reads the upload from here
    emulator.set_pacing(0)
    search = search_create(user=owner, query="similar", image=jpeg_bytes((800, 600)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        search.refresh_from_db()
        if search.is_finished or worker.poll() is not None:
            break
        time.sleep(0.2)
    emulator.set_pacing(1)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert search.status == "done", f"{search.status} {search.error_message}\n{log[-3000:]}"
    assert search.provider == "image_search"
    assert search.result_count > 0
    assert search.answer_text
    assert search.tool_calls >= 1
