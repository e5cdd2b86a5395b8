"""The live queue panel: broker depth, workers, running tasks; "unknown" whenever nobody answers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from kombu.exceptions import OperationalError

from webapp.celery import app as celery_app
from webapp.dashboard import queue_probe

PANEL = "/dashboard/?panel=queues"
HTMX = {"HX-Request": "true"}


class FakeInspect:
    def __init__(self, ping: Any = None, active: Any = None, error: Exception | None = None):
        self._ping, self._active, self._error = ping, active, error

    def ping(self) -> Any:
        if self._error:
            raise self._error
        return self._ping

    def active(self) -> Any:
        return self._active


@pytest.fixture
def disk_broker(settings: Any, tmp_path: Path) -> Path:
    """A disk broker folder of the test's own, holding three waiting search messages."""
    folder = tmp_path / "broker-out"
    folder.mkdir()
    for n in range(3):
        (folder / f"{n}_abc.celery.msg").write_text("{}")
    (folder / "9_abc.celery@host.celery.pidbox.msg").write_text("{}")  # another queue
    (folder / "partial-123").write_text("")  # a message still being written
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(folder)}
    return folder


def _inspect_with(monkeypatch: pytest.MonkeyPatch, fake: FakeInspect) -> None:
    monkeypatch.setattr(celery_app.control, "inspect", lambda **kwargs: fake)


def test_no_worker_answering_shows_unknown(
    staff_client: Client, disk_broker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _inspect_with(monkeypatch, FakeInspect(ping=None))
    html = staff_client.get(PANEL, headers=HTMX).content.decode()
    assert "<dt>Workers online</dt><dd>unknown</dd>" in html
    assert "<dt>Tasks running</dt><dd>unknown</dd>" in html
    assert "No worker answered a ping within 1 s" in html
    assert "<dt>Waiting in “celery”</dt><dd>3</dd>" in html


def test_a_broadcast_the_broker_refuses_shows_unknown(
    staff_client: Client, disk_broker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _inspect_with(monkeypatch, FakeInspect(error=OperationalError("no route to broker")))
    html = staff_client.get(PANEL, headers=HTMX).content.decode()
    assert "<dt>Workers online</dt><dd>unknown</dd>" in html
    assert "Workers could not be asked" in html


def test_an_unreadable_broker_shows_the_depth_as_unknown(
    staff_client: Client, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "missing")}
    _inspect_with(monkeypatch, FakeInspect(ping=None))
    html = staff_client.get(PANEL, headers=HTMX).content.decode()
    assert "<dt>Waiting in “celery”</dt><dd>unknown</dd>" in html
    assert "The broker did not answer, so the queue depth is unknown." in html


def test_workers_and_their_running_tasks_are_listed(
    staff_client: Client, disk_broker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.time() - 120
    _inspect_with(
        monkeypatch,
        FakeInspect(
            ping={"celery@a": {"ok": "pong"}, "celery@b": {"ok": "pong"}},
            active={
                "celery@a": [{"name": "search.run", "args": [42], "time_start": started}],
                "celery@b": [],
            },
        ),
    )
    html = staff_client.get(PANEL, headers=HTMX).content.decode()
    assert "<dt>Workers online</dt><dd>2</dd>" in html
    assert "<dt>Tasks running</dt><dd>1</dd>" in html
    assert "Workers: celery@a, celery@b" in html
    assert "<code>search.run</code> [42] on celery@a, for 2" in html


def test_a_probe_that_hangs_is_cut_off_and_reported_as_unknown(
    staff_client: Client, disk_broker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Hanging(FakeInspect):
        def ping(self) -> Any:
            time.sleep(0.5)
            return {"celery@late": {"ok": "pong"}}

    executor = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(queue_probe, "PROBE_DEADLINE_SECONDS", 0.05)
    monkeypatch.setattr(queue_probe, "_executor", executor)
    _inspect_with(monkeypatch, Hanging(active={"celery@late": []}))
    started = time.monotonic()
    html = staff_client.get(PANEL, headers=HTMX).content.decode()
    assert time.monotonic() - started < 0.45
    executor.shutdown(wait=True)  # let the late probe end while the fakes are still in place
    assert "<dt>Workers online</dt><dd>unknown</dd>" in html
    assert "The broker did not answer within 0.05 s." in html


def test_against_a_real_redis_broker_with_no_worker(
    staff_client: Client, redis_url: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No fakes: Celery's own ping, with a short timeout, against Redis (CI has one)."""
    settings.CELERY_BROKER_URL = redis_url
    monkeypatch.setattr(queue_probe, "INSPECT_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(queue_probe, "_executor", ThreadPoolExecutor(max_workers=1))
    html = staff_client.get(PANEL, headers=HTMX).content.decode()
    assert "<dt>Workers online</dt><dd>unknown</dd>" in html
    assert "redis://" in html
    assert "<dt>Waiting in “celery”</dt><dd>unknown</dd>" not in html
