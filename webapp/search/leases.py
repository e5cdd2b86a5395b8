"""Leases on running searches, the heartbeat that renews them, and the sweeper.

Why: a Celery message alone cannot promise that a search finishes. A worker
killed with ``kill -9`` takes its unacknowledged message with it until the
broker's visibility timeout (an hour on Redis); a Redis restarted without
persistence forgets every queued message; a database restart fails writes
half-way. Celery's docs on ``visibility_timeout`` say as much. So the database
row, not the message, is the source of truth:

- **Claim.** A worker claims a queued search with a conditional UPDATE that
  writes a fresh ``lease_token`` and a ``lease_expires_at`` LEASE_SECONDS ahead.
  A second delivery of the same message finds nothing to claim.
- **Heartbeat.** One thread per worker process renews the leases of every
  search that process is running, in one UPDATE every HEARTBEAT_SECONDS. A
  process that dies stops renewing, and its leases run out.
- **Fencing.** Every write a run makes checks its token (``search_write_fenced``),
  so a run whose lease was taken back cannot add results beside the new run.
- **Sweeper.** Every worker sweeps every SWEEP_SECONDS (and ``manage.py
  searches_sweep`` does it by hand): a running search whose lease ran out goes
  back to queued and is dispatched again, or fails with a sentence after
  SEARCH_MAX_ATTEMPTS claims; a queued search whose message may be lost (never
  sent because the broker was down, or sent long ago and never claimed) is sent
  again; one queued past SEARCH_QUEUED_MAX_MINUTES fails with a sentence.

Every transition is a conditional UPDATE, so any number of sweepers on any
number of hosts may run at once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Model, Q, QuerySet
from django.utils import timezone

from webapp.search.models import Result, Search

logger = logging.getLogger(__name__)

INTERRUPTED_MESSAGE = (
    "The search was interrupted {attempts} times (the worker running it stopped), so Loupe "
    "gave up on it. Your search is saved; press “Run again” to try once more."
)
QUEUE_TIMEOUT_MESSAGE = (
    "No worker picked up this search within {minutes} minutes, so Loupe gave up on it. "
    "Your search is saved; press “Run again” when the service is back."
)


class LeaseLost(Exception):
    """This run's claim was taken back (its lease ran out); it must stop writing."""


def lease_seconds() -> float:
    return float(settings.SEARCH_LEASE_SECONDS)


# --- claim ------------------------------------------------------------------------------


def search_claim(*, search_id: int) -> str | None:
    """Claim a queued search for this worker; return the lease token, or None.

    The claim also clears anything an earlier, interrupted run left behind, in
    the same transaction, so a search that runs twice never shows results twice.
    """
    token = uuid.uuid4().hex
    now = timezone.now()
    with transaction.atomic():
        claimed = Search.objects.filter(pk=search_id, status=Search.Status.QUEUED).update(
            status=Search.Status.RUNNING,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=lease_seconds()),
            started_at=now,
            attempts=F("attempts") + 1,
            stage="",
            result_count=0,
            answer_text="",
            results_at=None,
        )
        if not claimed:
            return None
        Result.objects.filter(search_id=search_id).delete()
    return token


@contextmanager
def search_write_fenced(*, search_id: int, token: str) -> Iterator[None]:
    """A transaction that holds the search's row lock and proves the lease is still ours.

    Raises LeaseLost (and writes nothing) when the sweeper has taken the search back.
    """
    with transaction.atomic():
        held = (
            Search.objects.select_for_update()
            .filter(pk=search_id, lease_token=token, status=Search.Status.RUNNING)
            .exists()
        )
        if not held:
            raise LeaseLost(search_id)
        yield


# --- heartbeat --------------------------------------------------------------------------


@dataclass
class _Held:
    model: type[Model]
    token: str
    since: float = field(default_factory=time.monotonic)


class LeaseKeeper:
    """Renews the leases of every job this process is running, from one thread.

    A job (a search, a library upload) registers with ``holding()``; the thread
    renews all registered leases, one UPDATE per kind of job. A job older than
    SEARCH_MAX_RUN_SECONDS (uploads: their own limit) is no longer renewed: a
    thread stuck past every deadline then loses its claim to the sweeper.
    """

    def __init__(self) -> None:
        self._held: dict[tuple[type[Model], int], _Held] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @contextmanager
    def holding(self, model: type[Model], pk: int, token: str) -> Iterator[None]:
        self._ensure_thread()
        with self._lock:
            self._held[(model, pk)] = _Held(model, token)
        try:
            yield
        finally:
            with self._lock:
                self._held.pop((model, pk), None)

    def tokens_to_renew(self) -> dict[type[Model], list[str]]:
        now = time.monotonic()
        by_model: dict[type[Model], list[str]] = {}
        with self._lock:
            for held in self._held.values():
                if now - held.since < _max_run_seconds(held.model):
                    by_model.setdefault(held.model, []).append(held.token)
        return by_model

    def renew_once(self) -> int:
        until = timezone.now() + timedelta(seconds=lease_seconds())
        renewed = 0
        for model, tokens in self.tokens_to_renew().items():
            renewed += model._default_manager.filter(
                lease_token__in=tokens, status="running"
            ).update(lease_expires_at=until)
        return renewed

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        interval = lease_seconds() / 3
        while not self._stop.wait(interval):
            _in_own_connection(self.renew_once, "renew leases")

    def stop(self) -> None:
        self._stop.set()


def _max_run_seconds(model: type[Model]) -> float:
    return float(getattr(model, "MAX_RUN_SECONDS", settings.SEARCH_MAX_RUN_SECONDS))


lease_keeper = LeaseKeeper()


def _in_own_connection(job: Callable[[], object], what: str) -> None:
    """Run a background thread's database job; a database that is down is logged, not fatal."""
    try:
        close_old_connections()
        job()
    except DatabaseError as exc:
        logger.warning("could not %s: %s", what, exc)
        connection.close()
    except Exception:
        logger.exception("could not %s", what)
    finally:
        if not settings.DATABASES["default"].get("CONN_MAX_AGE"):
            connection.close()


# --- sweeper ----------------------------------------------------------------------------


@dataclass
class SweepReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    redispatched: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed or self.redispatched)


def searches_sweep(*, now: datetime | None = None) -> SweepReport:
    """Finish, re-queue or re-send every search left behind. Safe from many hosts at once."""
    now = now or timezone.now()
    report = SweepReport()
    _take_back_lapsed_leases(now, report)
    _fail_queued_too_long(now, report)
    _redispatch_lost_messages(now, report)
    if report:
        logger.info(
            "sweeper: re-queued %s, failed %s, sent again %s",
            report.requeued,
            report.failed,
            report.redispatched,
        )
    return report


def _take_back_lapsed_leases(now: datetime, report: SweepReport) -> None:
    from webapp.search.services import search_dispatch  # services import this module

    lapsed = Search.objects.filter(status=Search.Status.RUNNING).filter(
        Q(lease_expires_at__lt=now)
        # Rows claimed before leases existed carry none; a run is never older than this.
        | Q(lease_expires_at__isnull=True, started_at__lt=now - timedelta(minutes=10))
    )
    for search_id, token, attempts in lapsed.values_list("pk", "lease_token", "attempts"):
        still_lapsed = Search.objects.filter(
            pk=search_id, status=Search.Status.RUNNING, lease_token=token
        )
        if attempts >= settings.SEARCH_MAX_ATTEMPTS:
            message = INTERRUPTED_MESSAGE.format(attempts=attempts)
            if _fail(still_lapsed, now, "Interrupted", message):
                report.failed.append(search_id)
        elif still_lapsed.update(
            status=Search.Status.QUEUED,
            lease_token="",
            lease_expires_at=None,
            dispatched_at=None,
            stage="",
        ):
            report.requeued.append(search_id)
            search_dispatch(search_id=search_id)  # if the broker is down, a later sweep sends it


def _fail_queued_too_long(now: datetime, report: SweepReport) -> None:
    minutes = settings.SEARCH_QUEUED_MAX_MINUTES
    too_old = Search.objects.filter(
        status=Search.Status.QUEUED, created_at__lt=now - timedelta(minutes=minutes)
    )
    for search_id in too_old.values_list("pk", flat=True):
        still_queued = Search.objects.filter(pk=search_id, status=Search.Status.QUEUED)
        if _fail(still_queued, now, "QueueTimeout", QUEUE_TIMEOUT_MESSAGE.format(minutes=minutes)):
            report.failed.append(search_id)


def _redispatch_lost_messages(now: datetime, report: SweepReport) -> None:
    """Send again what the broker may not hold: never sent, or sent long ago and unclaimed.

    A queued row that was sent recently is left alone: its message is most likely
    waiting in the queue. Sending twice is harmless (the claim runs it once), only
    wasteful, so the wait before a second send is generous.
    """
    from webapp.search.services import search_dispatch  # services import this module

    grace = timedelta(seconds=settings.SEARCH_DISPATCH_GRACE_SECONDS)
    resend = timedelta(seconds=settings.SEARCH_REDISPATCH_SECONDS)
    lost = Search.objects.filter(status=Search.Status.QUEUED).filter(
        Q(dispatched_at__isnull=True, created_at__lt=now - grace)
        | Q(dispatched_at__lt=now - resend)
    )
    for search_id in lost.order_by("created_at").values_list("pk", flat=True)[:500]:
        if not search_dispatch(search_id=search_id):
            return  # the broker is down: try everything again on the next sweep
        report.redispatched.append(search_id)


def _fail(rows: QuerySet[Search], now: datetime, code: str, message: str) -> bool:
    return bool(
        rows.update(
            status=Search.Status.FAILED,
            error_code=code,
            error_message=message,
            lease_token="",
            lease_expires_at=None,
            finished_at=now,
        )
    )


class Sweeper:
    """Runs sweeps every SEARCH_SWEEP_SECONDS in a daemon thread of a worker.

    The worker names them (webapp/celery.py): this module's ``searches_sweep`` and
    the library's, so this module needs to know nothing of the library.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._jobs: list[Callable[[], object]] = []

    def start(self, jobs: list[Callable[[], object]]) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._jobs = jobs
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sweeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(settings.SEARCH_SWEEP_SECONDS):
            for job in self._jobs:
                _in_own_connection(job, f"run {job.__name__}")

    def stop(self) -> None:
        self._stop.set()


sweeper = Sweeper()
