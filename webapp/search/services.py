"""Every write and rule about searches. Views and tasks call these; nothing else writes."""

from __future__ import annotations

import logging
from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webapp.providers.errors import ProviderError
from webapp.providers.events import Completed, HitsFound, ImageHit
from webapp.search.models import Provider, Result, Search
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


def _ms_between(start: datetime, end: datetime) -> int:
    return round((end - start).total_seconds() * 1000)


def search_create(
    *, user: User, query: str, provider: str = Provider.IQS, exclude_sites: str = ""
) -> Search:
    """Validate, save a queued Search, and queue its task once the row is committed.

    Raises ValidationError (nothing saved, nothing queued) for bad input.
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
