"""The sweeper's part for library uploads: an upload whose worker died, or whose
message was lost, runs again; one interrupted too often fails with a sentence.

The same rules as searches (webapp/search/leases.py), with the same settings.
Command-line imports run in a person's terminal, not a worker, and carry no lease.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from webapp.library.models import ImportRun
from webapp.library.services import dispatch_upload

logger = logging.getLogger(__name__)

INTERRUPTED_MESSAGE = (
    "The import was interrupted {attempts} times (the worker running it stopped), so Loupe "
    "gave up on it. Images it stored are kept; upload the rest again."
)


def library_uploads_sweep(*, now: datetime | None = None) -> list[int]:
    """Re-queue, re-send or fail uploads left behind; return the ids it acted on."""
    now = now or timezone.now()
    acted = _take_back_lapsed(now) + _resend_lost(now)
    if acted:
        logger.info("sweeper: library uploads recovered %s", acted)
    return acted


def _take_back_lapsed(now: datetime) -> list[int]:
    acted = []
    lapsed = ImportRun.objects.filter(
        kind=ImportRun.Kind.UPLOAD, status=ImportRun.Status.RUNNING, lease_expires_at__lt=now
    )
    for run_id, token, attempts in lapsed.values_list("pk", "lease_token", "attempts"):
        still_lapsed = ImportRun.objects.filter(
            pk=run_id, status=ImportRun.Status.RUNNING, lease_token=token
        )
        if attempts >= settings.SEARCH_MAX_ATTEMPTS:
            changed = still_lapsed.update(
                status=ImportRun.Status.FAILED,
                error_message=INTERRUPTED_MESSAGE.format(attempts=attempts),
                lease_token="",
                lease_expires_at=None,
                finished_at=now,
            )
        else:
            changed = still_lapsed.update(
                status=ImportRun.Status.QUEUED,
                lease_token="",
                lease_expires_at=None,
                dispatched_at=None,
            )
            if changed:
                dispatch_upload(run_id=run_id)
        if changed:
            acted.append(run_id)
    return acted


def _resend_lost(now: datetime) -> list[int]:
    grace = timedelta(seconds=settings.SEARCH_DISPATCH_GRACE_SECONDS)
    resend = timedelta(seconds=settings.SEARCH_REDISPATCH_SECONDS)
    lost = ImportRun.objects.filter(
        kind=ImportRun.Kind.UPLOAD, status=ImportRun.Status.QUEUED
    ).filter(
        Q(dispatched_at__isnull=True, created_at__lt=now - grace)
        | Q(dispatched_at__lt=now - resend)
    )
    acted = []
    for run_id in lost.values_list("pk", flat=True):
        if not dispatch_upload(run_id=run_id):
            break  # the broker is down: the next sweep tries again
        acted.append(run_id)
    return acted
