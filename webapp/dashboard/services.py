"""Staff actions on searches: dispatch a stuck one again, retry a failed one, delete old ones.

Each re-queue locks the row first and checks its state after the lock is held,
so two staff members clicking at once (or one double click) queue it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from webapp.dashboard.models import SearchRecovery
from webapp.dashboard.selectors import stuck_searches
from webapp.search.models import Result, Search
from webapp.search.services import search_redispatch

MAX_AGE_DAYS = 36_500


def _requeue(
    *, search_id: int, staff: User | None, action: str, still_wanted: QuerySet[Search]
) -> bool:
    with transaction.atomic():
        # The lock makes a concurrent click wait here. The check runs after the
        # lock, as a new statement, so it sees what the other click committed.
        locked = Search.objects.select_for_update().filter(pk=search_id).first()
        if locked is None or not still_wanted.filter(pk=search_id).exists():
            return False
        previous = locked.status
        if not search_redispatch(search=locked):
            return False
        SearchRecovery.objects.create(
            search=locked, action=action, staff=staff, previous_status=previous
        )
    return True


def search_dispatch_again(
    *, search_id: int, staff: User | None, now: datetime | None = None
) -> bool:
    """Queue a stuck search again. False if it is not stuck (any more): nothing is queued."""
    stuck = stuck_searches(now=now or timezone.now())
    return _requeue(
        search_id=search_id,
        staff=staff,
        action=SearchRecovery.Action.DISPATCH_AGAIN,
        still_wanted=stuck,
    )


def search_retry(*, search_id: int, staff: User | None) -> bool:
    """Queue a failed search again, as the same row. False if it is not failed (any more)."""
    return _requeue(
        search_id=search_id,
        staff=staff,
        action=SearchRecovery.Action.RETRY,
        still_wanted=Search.objects.filter(status=Search.Status.FAILED),
    )


@dataclass(frozen=True)
class RetryOutcome:
    retried: int
    skipped: int


def searches_retry_failed(*, searches: QuerySet[Search], staff: User | None) -> RetryOutcome:
    """Retry every failed search among ``searches``; the others are counted as skipped."""
    candidates = list(searches.values_list("pk", "status"))
    retried = sum(
        1
        for pk, status in candidates
        if status == Search.Status.FAILED and search_retry(search_id=pk, staff=staff)
    )
    return RetryOutcome(retried=retried, skipped=len(candidates) - retried)


@dataclass(frozen=True)
class DeleteOutcome:
    searches: int
    results: int
    cutoff: datetime


def searches_delete_older_than(
    *, searches: QuerySet[Search], days: int, now: datetime | None = None
) -> DeleteOutcome:
    """Delete those of ``searches`` created more than ``days`` days ago, with their results.

    Thumbnails stay: they are shared with newer searches and collections.
    """
    if not 1 <= days <= MAX_AGE_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_AGE_DAYS}, got {days}")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    with transaction.atomic():
        _, deleted = searches.filter(created_at__lt=cutoff).delete()
    return DeleteOutcome(
        searches=deleted.get(Search._meta.label, 0),
        results=deleted.get(Result._meta.label, 0),
        cutoff=cutoff,
    )
