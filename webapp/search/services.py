"""Every write and rule about searches. Views and tasks call these; nothing else writes."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webapp.providers.errors import ProviderError
from webapp.providers.events import Completed, HitsFound, ImageHit
from webapp.search.models import Provider, Result, Search, UserSearchLimit
from webapp.search.provider_registry import provider_events, provider_info
from webapp.search.query_rewrite import rewrite_query
from webapp.search.thumbnails import thumbnails_fetch, thumbnails_for_urls
from webapp.search.validation import clean_exclude_sites, clean_query

logger = logging.getLogger(__name__)

QUEUE_DOWN_MESSAGE = (
    "Loupe could not reach its task queue, so the search did not start. "
    "Your search is saved; press “Run again” in a moment."
)
INTERNAL_ERROR_MESSAGE = (
    "Something went wrong inside Loupe while running this search. It has been logged; "
    "press “Run again” to retry."
)


class SearchLimitReached(Exception):
    """The person used up today's searches; nothing was saved or queued."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.message = (
            f"You have used all {limit} searches allowed per day. "
            "The limit resets at midnight UTC; staff can raise it for you."
        )
        super().__init__(self.message)


def search_daily_limit_for(*, user: User) -> int | None:
    """The user's own limit if staff set one, else SEARCHES_PER_USER_PER_DAY (None: no limit)."""
    own = UserSearchLimit.objects.filter(user=user).first()
    if own is not None:
        return own.searches_per_day
    limit: int | None = settings.SEARCHES_PER_USER_PER_DAY
    return limit


def _check_daily_limit(user: User) -> None:
    limit = search_daily_limit_for(user=user)
    if limit is None:
        return
    day_start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    if Search.objects.filter(user=user, created_at__gte=day_start).count() >= limit:
        raise SearchLimitReached(limit)


def _ms_between(start: datetime, end: datetime) -> int:
    return round((end - start).total_seconds() * 1000)


def search_create(
    *, user: User, query: str, provider: str = Provider.IQS, exclude_sites: str = ""
) -> Search:
    """Validate, save a queued Search, and queue its task once the row is committed.

    Raises ValidationError for bad input and SearchLimitReached over the daily
    limit; in both cases nothing is saved or queued.
    """
    info = provider_info(provider)
    if info is None or not info.available:
        raise ValidationError({"provider": f"Unknown or unavailable provider “{provider}”."})
    errors: dict[str, list[str]] = {}
    clean: dict[str, object] = {}
    for field, cleaner, raw in (
        ("query", clean_query, query),
        ("exclude_sites", clean_exclude_sites, exclude_sites),
    ):
        try:
            clean[field] = cleaner(raw)
        except ValidationError as exc:
            errors[field] = exc.messages
    if errors:
        raise ValidationError(errors)
    _check_daily_limit(user)
    text = str(clean["query"])
    sites = list(clean["exclude_sites"])  # type: ignore[call-overload]
    with transaction.atomic():
        search = Search.objects.create(
            user=user,
            provider=provider,
            emulated=info.emulated,
            query=text,
            query_sent=rewrite_query(text),
            exclude_sites=",".join(sites),
        )
        transaction.on_commit(lambda: search_dispatch(search_id=search.pk))
    return search


def search_dispatch(*, search_id: int) -> bool:
    """Send the search to the queue. If the broker is down, fail it with a clear sentence.

    Called after commit (never inside a transaction), so a worker always finds the row.
    """
    from webapp.search.tasks import run_search  # tasks import services; avoid a cycle

    try:
        run_search.delay(search_id)
    except Exception:  # kombu raises several types (OperationalError, OSError...)
        logger.exception("could not queue search %s", search_id)
        Search.objects.filter(pk=search_id, status=Search.Status.QUEUED).update(
            status=Search.Status.FAILED,
            error_code="QueueUnavailable",
            error_message=QUEUE_DOWN_MESSAGE,
            finished_at=timezone.now(),
        )
        return False
    return True


def search_redispatch(*, search: Search) -> bool:
    """Queue a stuck or failed search again, as the same Search row.

    The row goes back to queued only from running, queued or failed (a
    conditional UPDATE, so two staff clicking at once queue it once), and its
    partial results are cleared so the worker starts clean.
    """
    with transaction.atomic():
        reset = Search.objects.filter(
            pk=search.pk,
            status__in=[Search.Status.QUEUED, Search.Status.RUNNING, Search.Status.FAILED],
        ).update(
            status=Search.Status.QUEUED,
            error_code="",
            error_message="",
            stage="",
            started_at=None,
            results_at=None,
            finished_at=None,
            duration_ms=None,
            result_count=0,
        )
        if not reset:
            return False
        Result.objects.filter(search_id=search.pk).delete()
        transaction.on_commit(lambda: search_dispatch(search_id=search.pk))
    return True


def search_rerun(*, search: Search) -> Search:
    """A new search with the same input; the old one stays in history."""
    return search_create(
        user=search.user,
        query=search.query,
        provider=search.provider,
        exclude_sites=search.exclude_sites,
    )


def search_delete(*, search: Search) -> None:
    search.delete()


def search_run(*, search_id: int) -> None:
    """Run a queued search: call the provider, keep its hits, fetch thumbnails, finish.

    Safe to run twice: the queued → running claim is a conditional UPDATE, so a
    second delivery of the same task finds nothing to claim and returns.
    """
    claimed = Search.objects.filter(pk=search_id, status=Search.Status.QUEUED).update(
        status=Search.Status.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return
    search = Search.objects.get(pk=search_id)
    try:
        _collect_provider_events(search)
    except ProviderError as exc:
        _finish(search, Search.Status.FAILED, code=exc.code, message=exc.message)
        return
    except Exception:
        logger.exception("search %s failed unexpectedly", search_id)
        _finish(search, Search.Status.FAILED, code="Internal", message=INTERNAL_ERROR_MESSAGE)
        return
    thumbnails_fetch(
        thumbnails=[
            r.thumbnail
            for r in search.results.select_related("thumbnail")
            if r.thumbnail is not None
        ]
    )
    _finish(search, Search.Status.DONE)


def _collect_provider_events(search: Search) -> None:
    next_rank = 1
    for event in provider_events(search):
        if isinstance(event, HitsFound):
            next_rank = _store_hits(search, event.hits, first_rank=next_rank)
        elif isinstance(event, Completed):
            _store_summary(search, event)


def _store_hits(search: Search, hits: list[ImageHit], *, first_rank: int) -> int:
    """Persist a batch of hits in arrival order; return the next free rank."""
    thumbs = thumbnails_for_urls(hit.image_url for hit in hits)
    rows = [
        Result(
            search=search,
            rank=first_rank + offset,
            title=hit.title[:500],
            image_url=hit.image_url,
            host_page_url=hit.host_page_url,
            published_time=hit.published_time,
            width=hit.width,
            height=hit.height,
            thumbnail=thumbs[hit.image_url],
        )
        for offset, hit in enumerate(hits)
    ]
    Result.objects.bulk_create(rows)
    search.result_count += len(rows)
    search.results_at = timezone.now()
    search.save(update_fields=["result_count", "results_at"])
    return first_rank + len(rows)


def _store_summary(search: Search, summary: Completed) -> None:
    search.request_id = summary.request_id[:100]
    search.search_time_ms = summary.search_time_ms
    search.provider_ms = round(summary.provider_ms)
    search.dropped_items = summary.dropped_items
    search.raw_response = summary.raw_response
    if summary.query_sent:
        search.query_sent = summary.query_sent[:200]
    search.save(
        update_fields=[
            "request_id",
            "search_time_ms",
            "provider_ms",
            "dropped_items",
            "raw_response",
            "query_sent",
        ]
    )


def _finish(search: Search, status: str, *, code: str = "", message: str = "") -> None:
    finished = timezone.now()
    search.status = status
    search.error_code = code[:100]
    search.error_message = message
    search.finished_at = finished
    search.duration_ms = _ms_between(search.created_at, finished)
    search.save(
        update_fields=["status", "error_code", "error_message", "finished_at", "duration_ms"]
    )
