"""Every write and rule about searches. Views and tasks call these; nothing else writes."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webapp.imaging.safe_fetch import FetchError, fetch_url
from webapp.providers.errors import ProviderError
from webapp.providers.events import (
    Completed,
    HitsFound,
    ImageHit,
    Progress,
    ProviderEvent,
    TextDelta,
)
from webapp.search.models import Provider, Result, Search, Thumbnail, UserSearchLimit
from webapp.search.provider_registry import provider_events, provider_info
from webapp.search.query_images import query_image_bytes, query_image_store
from webapp.search.query_rewrite import rewrite_query
from webapp.search.thumbnails import ThumbnailBatch, thumbnails_for_urls
from webapp.search.validation import clean_exclude_sites, clean_image_url, clean_query

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


def _validated_input(
    *, provider: str, query: str, exclude_sites: str, has_image: bool
) -> tuple[str, list[str]]:
    """Check what the person typed against what the chosen provider takes."""
    info = provider_info(provider)
    if info is None or not info.available:
        raise ValidationError({"provider": f"Unknown or unavailable provider “{provider}”."})
    errors: dict[str, list[str]] = {}
    text, sites = "", []
    if query.strip() or info.needs_text:
        try:
            text = clean_query(query)
        except ValidationError as exc:
            errors["query"] = exc.messages
    try:
        sites = clean_exclude_sites(exclude_sites)
    except ValidationError as exc:
        errors["exclude_sites"] = exc.messages
    if has_image and not info.takes_image:
        errors["image"] = [f"{info.label} searches by text only; choose an image search."]
    if info.needs_image and not has_image:
        errors["image"] = ["Add an image to search by: upload, paste, drop, or give its URL."]
    if not (text or has_image or errors):
        errors["query"] = ["Type something to search for, or add an image."]
    if errors:
        raise ValidationError(errors)
    return text, sites


def _provider_for(provider: str, *, has_image: bool) -> str:
    """An empty choice means: by image when there is one, else web text search."""
    if provider:
        return provider
    return Provider.IMAGE_SEARCH if has_image else Provider.IQS


def search_create(
    *,
    user: User,
    query: str = "",
    provider: str = "",
    exclude_sites: str = "",
    image: bytes | None = None,
    image_url: str = "",
) -> Search:
    """Validate, save a queued Search, and queue its task once the row is committed.

    ``image`` is an uploaded file's bytes; ``image_url`` an address the worker
    will fetch safely. Raises ValidationError for bad input and
    SearchLimitReached over the daily limit; in both cases nothing is queued.
    """
    has_image = image is not None or bool(image_url.strip())
    provider = _provider_for(provider, has_image=has_image)
    text, sites = _validated_input(
        provider=provider, query=query, exclude_sites=exclude_sites, has_image=has_image
    )
    clean_url = ""
    if image_url.strip() and image is None:
        try:
            clean_url = clean_image_url(image_url)
        except ValidationError as exc:
            raise ValidationError({"image_url": exc.messages}) from exc
    _check_daily_limit(user)
    stored = None
    if image is not None:
        try:
            stored = query_image_store(image)
        except ValidationError as exc:
            raise ValidationError({"image": exc.messages}) from exc
    with transaction.atomic():
        search = Search.objects.create(
            user=user,
            provider=provider,
            emulated=provider_info(provider).emulated,  # type: ignore[union-attr]
            query=text,
            query_sent=rewrite_query(text) if provider == Provider.IQS else text,
            exclude_sites=",".join(sites),
            query_image=stored.name if stored else "",
            query_image_url=clean_url,
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

    The row goes back to queued only from running, queued or failed, and its
    partial results are cleared so the worker starts clean. A queued search
    may be dispatched again (its message may be lost), so a caller that can be
    clicked twice must lock the row first, as the dashboard's services do; the
    worker's queued → running claim still runs the search only once.
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
    image = query_image_bytes(search.query_image) if search.query_image else None
    return search_create(
        user=search.user,
        query=search.query,
        provider=search.provider,
        exclude_sites=search.exclude_sites,
        image=image,
        image_url="" if image is not None else search.query_image_url,
    )


def search_similar_to(*, user: User, result: Result) -> Search:
    """An image search that starts from a result's image (the "Search similar" button).

    A web result is searched on the web by its address; a library result is
    searched in the library, from its thumbnail (it has no public address).
    """
    if result.search.provider != Provider.LIBRARY:
        return search_create(user=user, provider=Provider.IMAGE_SEARCH, image_url=result.image_url)
    thumb = result.thumbnail
    path = Path(settings.MEDIA_ROOT) / thumb.file if thumb and thumb.file else None
    if path is None or not path.is_file():
        raise ValidationError({"image": ["This library image has no picture to search with."]})
    return search_create(user=user, provider=Provider.LIBRARY, image=path.read_bytes())


def search_delete(*, search: Search) -> None:
    search.delete()


def search_run(*, search_id: int) -> None:
    """Run a queued search: call the provider, keep what it sends as it sends it,
    fetch thumbnails alongside, and finish as done, partial or failed.

    Safe to run twice: the queued → running claim is a conditional UPDATE, so a
    second delivery of the same task finds nothing to claim and returns.
    """
    claimed = Search.objects.filter(pk=search_id, status=Search.Status.QUEUED).update(
        status=Search.Status.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return
    search = Search.objects.get(pk=search_id)
    with ThumbnailBatch() as thumbnails:
        try:
            _ensure_query_image(search)
            _collect_provider_events(search, thumbnails)
        except ProviderError as exc:
            status = Search.Status.PARTIAL if exc.keeps_results else Search.Status.FAILED
            if status == Search.Status.PARTIAL and not search.result_count:
                status = Search.Status.FAILED
            _finish(search, status, code=exc.code, message=exc.message)
            return
        except ValidationError as exc:
            _finish(search, Search.Status.FAILED, code="BadQueryImage", message=exc.messages[0])
            return
        except Exception:
            logger.exception("search %s failed unexpectedly", search_id)
            _finish(search, Search.Status.FAILED, code="Internal", message=INTERNAL_ERROR_MESSAGE)
            return
    _finish(search, Search.Status.DONE)


def _ensure_query_image(search: Search) -> None:
    """A query image given by URL is fetched (safely) and stored before the provider call."""
    if search.query_image_url and not search.query_image:
        search.query_image = _fetch_query_image(search.query_image_url)
        search.save(update_fields=["query_image"])


def _fetch_query_image(url: str) -> str:
    try:
        fetched = fetch_url(
            url,
            max_bytes=settings.UPLOAD_MAX_BYTES,
            timeout=settings.FETCH_TIMEOUT_SECONDS,
            allowlist=settings.FETCH_PRIVATE_ALLOWLIST,
        )
    except FetchError as exc:
        raise ValidationError(f"Could not fetch the query image: {exc.message}") from exc
    return query_image_store(fetched.content).name


class _EventRecorder:
    """Persists a provider's events as they arrive, so the page can show them live.

    Hits are written at once; text deltas are written at most every
    TEXT_FLUSH_SECONDS, since one UPDATE per token would only load the database.
    """

    TEXT_FLUSH_SECONDS = 0.25

    def __init__(self, search: Search, thumbnails: ThumbnailBatch) -> None:
        self.search = search
        self.thumbnails = thumbnails
        self.next_rank = 1
        self.pending_text: list[str] = []
        self.last_flush = time.monotonic()

    def record(self, event: ProviderEvent) -> None:
        if isinstance(event, HitsFound):
            self.next_rank = _store_hits(self.search, event.hits, first_rank=self.next_rank)
            self.thumbnails.submit(
                Thumbnail.objects.filter(results__search=self.search, state="pending")
            )
            self._set_stage(f"found:{self.search.result_count}")
        elif isinstance(event, TextDelta):
            self.pending_text.append(event.text)
            if time.monotonic() - self.last_flush >= self.TEXT_FLUSH_SECONDS:
                self.flush_text()
        elif isinstance(event, Progress):
            self._set_stage(event.stage)
        elif isinstance(event, Completed):
            self.flush_text()
            if event.answer_text:
                # The provider's own full answer wins over the deltas we pieced
                # together: a malformed event may have lost one of them.
                self.search.answer_text = event.answer_text
                self.search.save(update_fields=["answer_text"])
            _store_summary(self.search, event)
        self.thumbnails.save_finished()

    def flush_text(self) -> None:
        if not self.pending_text:
            return
        self.search.answer_text += "".join(self.pending_text)
        self.pending_text = []
        self.last_flush = time.monotonic()
        self.search.save(update_fields=["answer_text"])

    def _set_stage(self, stage: str) -> None:
        if stage != self.search.stage:
            self.search.stage = stage[:60]
            self.search.save(update_fields=["stage"])


def _collect_provider_events(search: Search, thumbnails: ThumbnailBatch) -> None:
    recorder = _EventRecorder(search, thumbnails)
    try:
        for event in provider_events(search):
            recorder.record(event)
    finally:
        # What arrived before a failure is kept (a cut stream ends as "partial").
        recorder.flush_text()


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
            score=getattr(hit, "score", None),
            near_duplicate=getattr(hit, "near_duplicate", False),
        )
        for offset, hit in enumerate(hits)
    ]
    Result.objects.bulk_create(rows)
    _adopt_library_thumbnails(hits, thumbs)
    search.result_count += len(rows)
    search.results_at = timezone.now()
    search.save(update_fields=["result_count", "results_at"])
    return first_rank + len(rows)


def _adopt_library_thumbnails(hits: list[ImageHit], thumbs: dict[str, Thumbnail]) -> None:
    """Library hits already have thumbnails on disk: point at them instead of fetching."""
    from webapp.library.provider import LibraryImageHit, library_thumbnail_for

    media_root = Path(settings.MEDIA_ROOT)
    for hit in hits:
        thumb = thumbs[hit.image_url]
        if not isinstance(hit, LibraryImageHit) or thumb.state != Thumbnail.State.PENDING:
            continue
        found = library_thumbnail_for(hit.library_image_id)
        if found is None:
            Thumbnail.objects.filter(pk=thumb.pk).update(
                state=Thumbnail.State.UNAVAILABLE, error_message="The library has no thumbnail."
            )
            continue
        path, thumb_width, thumb_height = found
        Thumbnail.objects.filter(pk=thumb.pk).update(
            state=Thumbnail.State.READY,
            file=str(path.relative_to(media_root)),
            width=hit.width,
            height=hit.height,
            thumb_width=thumb_width,
            thumb_height=thumb_height,
            fetched_at=timezone.now(),
        )


def _store_summary(search: Search, summary: Completed) -> None:
    search.request_id = summary.request_id[:100]
    search.search_time_ms = summary.search_time_ms
    search.provider_ms = round(summary.provider_ms)
    search.dropped_items = summary.dropped_items
    search.raw_response = summary.raw_response
    if summary.query_sent:
        search.query_sent = summary.query_sent[:200]
    usage_fields = _store_usage(search, summary)
    search.save(
        update_fields=[
            "request_id",
            "search_time_ms",
            "provider_ms",
            "dropped_items",
            "raw_response",
            "query_sent",
            *usage_fields,
        ]
    )


def _store_usage(search: Search, summary: Completed) -> list[str]:
    """Tokens, billable tool calls and the estimated cost, for providers that report them."""
    if summary.total_tokens is None and not summary.tool_calls:
        return []
    search.input_tokens = summary.input_tokens
    search.output_tokens = summary.output_tokens
    search.total_tokens = summary.total_tokens
    search.tool_calls = summary.tool_calls
    search.cost_cny = search_cost_cny(
        tool_calls=summary.tool_calls,
        input_tokens=summary.input_tokens or 0,
        output_tokens=summary.output_tokens or 0,
    )
    return ["input_tokens", "output_tokens", "total_tokens", "tool_calls", "cost_cny"]


def search_cost_cny(*, tool_calls: int, input_tokens: int, output_tokens: int) -> Decimal:
    """CNY 48 per 1,000 image_search calls (api-docs 004) plus tokens at the configured rates."""
    per_call = Decimal(str(settings.IMAGE_SEARCH_PRICE_PER_1000_CALLS_CNY)) / 1000
    per_input = Decimal(str(settings.TOKEN_PRICE_INPUT_PER_1K_CNY)) / 1000
    per_output = Decimal(str(settings.TOKEN_PRICE_OUTPUT_PER_1K_CNY)) / 1000
    cost = tool_calls * per_call + input_tokens * per_input + output_tokens * per_output
    return cost.quantize(Decimal("0.00001"))


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
