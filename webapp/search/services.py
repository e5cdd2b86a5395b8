"""Every write and rule about searches. Views and tasks call these; nothing else writes."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.cpu import on_cpu
from webapp.db_retry import TRANSIENT_DB_ERRORS, release_connection, retry_on_disconnect
from webapp.imaging.safe_fetch import FetchError, fetch_url
from webapp.live.bus import publish
from webapp.providers.errors import ProviderError
from webapp.providers.events import (
    Completed,
    HitsFound,
    ImageHit,
    Progress,
    ProviderEvent,
    TextDelta,
)
from webapp.search.leases import LeaseLost, lease_keeper, search_claim, search_write_fenced
from webapp.search.models import (
    IdempotencyKey,
    Provider,
    Result,
    Search,
    Thumbnail,
    UserSearchLimit,
)
from webapp.search.provider_registry import provider_events, provider_info
from webapp.search.query_images import query_image_bytes, query_image_store
from webapp.search.query_rewrite import rewrite_query
from webapp.search.thumbnails import ThumbnailBatch, thumbnails_for_urls
from webapp.search.validation import clean_exclude_sites, clean_image_url, clean_query

logger = logging.getLogger(__name__)

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
    idempotency_key: str = "",
) -> Search:
    """Validate, save a queued Search, and queue its task once the row is committed.

    ``image`` is an uploaded file's bytes; ``image_url`` an address the worker
    will fetch safely. Raises ValidationError for bad input and
    SearchLimitReached over the daily limit; in both cases nothing is queued.
    With an ``idempotency_key`` (an API client's retry), the search first made
    with that key in the last IDEMPOTENCY_KEY_HOURS is returned instead.
    """
    if idempotency_key:
        earlier = _search_for_idempotency_key(user, idempotency_key)
        if earlier is not None:
            return earlier
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
    try:
        return _save_queued_search(
            user=user,
            idempotency_key=idempotency_key,
            provider=provider,
            text=text,
            sites=sites,
            query_image=stored.name if stored else "",
            query_image_url=clean_url,
        )
    except IntegrityError:
        # A concurrent retry with the same key saved its search first: that one counts.
        earlier = _search_for_idempotency_key(user, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return earlier


def _save_queued_search(
    *,
    user: User,
    idempotency_key: str,
    provider: str,
    text: str,
    sites: list[str],
    query_image: str,
    query_image_url: str,
) -> Search:
    with transaction.atomic():
        search = Search.objects.create(
            user=user,
            provider=provider,
            emulated=provider_info(provider).emulated,  # type: ignore[union-attr]
            query=text,
            query_sent=rewrite_query(text) if provider == Provider.IQS else text,
            exclude_sites=",".join(sites),
            query_image=query_image,
            query_image_url=query_image_url,
        )
        if idempotency_key:
            IdempotencyKey.objects.create(user=user, key=idempotency_key, search=search)
        transaction.on_commit(lambda: search_dispatch(search_id=search.pk))
    return search


def _search_for_idempotency_key(user: User, key: str) -> Search | None:
    """The search made with this key within IDEMPOTENCY_KEY_HOURS; an older key is forgotten."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    IdempotencyKey.objects.filter(user=user, key=key, created_at__lt=cutoff).delete()
    found = IdempotencyKey.objects.filter(user=user, key=key).select_related("search").first()
    return found.search if found is not None else None


def search_dispatch(*, search_id: int) -> bool:
    """Send the search's task message to the broker; note when, so the sweeper knows.

    Called after commit (never inside a transaction), so a worker always finds the
    row. If the broker is down the search simply stays queued, which is true: the
    sweeper (webapp/search/leases.py) sends it again once the broker is back.
    """
    from webapp.search.tasks import run_search  # tasks import services; avoid a cycle

    try:
        run_search.delay(search_id)
    except Exception as exc:  # kombu raises several types (OperationalError, OSError...)
        logger.warning("could not queue search %s yet (%s); the sweeper will", search_id, exc)
        return False
    Search.objects.filter(pk=search_id, status=Search.Status.QUEUED).update(
        dispatched_at=timezone.now()
    )
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
            lease_token="",
            lease_expires_at=None,
            dispatched_at=None,
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

    Safe to run twice: the claim (leases.search_claim) is a conditional UPDATE, so
    a second delivery of the same task finds nothing to claim and returns. While
    it runs, the worker's heartbeat renews its lease; if the worker dies, the
    sweeper takes the search back and runs it again from a clean slate.
    """
    token = retry_on_disconnect(lambda: search_claim(search_id=search_id))
    if token is None:
        return
    publish(search_id)
    with lease_keeper.holding(Search, search_id, token):
        _run_claimed(_LeasedSearch(Search.objects.get(pk=search_id), token))


def _run_claimed(run: _LeasedSearch) -> None:
    search = run.search
    with ThumbnailBatch(on_saved=lambda: publish(search.pk)) as thumbnails:
        try:
            _ensure_query_image(run)
            _collect_provider_events(run, thumbnails)
        except LeaseLost:
            logger.warning("search %s was taken back from this worker; stopping", search.pk)
            return
        except ProviderError as exc:
            status = Search.Status.PARTIAL if exc.keeps_results else Search.Status.FAILED
            if status == Search.Status.PARTIAL and not search.result_count:
                status = Search.Status.FAILED
            _finish(run, status, code=exc.code, message=exc.message)
            return
        except ValidationError as exc:
            _finish(run, Search.Status.FAILED, code="BadQueryImage", message=exc.messages[0])
            return
        except TRANSIENT_DB_ERRORS as exc:
            # The database stayed away past every retry; the lease runs out and the
            # sweeper runs the search again once the database is back.
            logger.warning("search %s stopped, database unavailable: %s", search.pk, exc)
            return
        except Exception:
            logger.exception("search %s failed unexpectedly", search.pk)
            _finish(run, Search.Status.FAILED, code="Internal", message=INTERNAL_ERROR_MESSAGE)
            return
    _finish(run, Search.Status.DONE)


class _LeasedSearch:
    """A search this worker holds the lease of; every write goes through here, fenced.

    A write that finds the lease gone (the sweeper took the search back) raises
    LeaseLost instead of writing. Each write also announces the change to open
    pages, and rides out a short database outage (webapp/db_retry.py).
    """

    def __init__(self, search: Search, token: str) -> None:
        self.search = search
        self.token = token

    def update(self, **fields: object) -> None:
        """Save these fields on the search, if the lease is still this run's."""
        for name, value in fields.items():
            setattr(self.search, name, value)

        def write() -> int:
            return Search.objects.filter(
                pk=self.search.pk, lease_token=self.token, status=Search.Status.RUNNING
            ).update(**fields)

        if not retry_on_disconnect(write):
            raise LeaseLost(self.search.pk)
        publish(self.search.pk)


def _ensure_query_image(run: _LeasedSearch) -> None:
    """A query image given by URL is fetched (safely) and stored before the provider call."""
    search = run.search
    if search.query_image_url and not search.query_image:
        release_connection()  # the fetch is a network wait
        run.update(query_image=_fetch_query_image(search.query_image_url))


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
    return on_cpu(query_image_store, fetched.content).name


class _EventRecorder:
    """Persists a provider's events as they arrive, so the page can show them live.

    Hits are written at once; text deltas are written at most every
    TEXT_FLUSH_SECONDS, since one UPDATE per token would only load the database.
    After each event the thread hands its database connection back: the next
    event is a network wait, and a worker runs many searches at once.
    """

    TEXT_FLUSH_SECONDS = 0.25

    def __init__(self, run: _LeasedSearch, thumbnails: ThumbnailBatch) -> None:
        self.run = run
        self.search = run.search
        self.thumbnails = thumbnails
        self.pending_text: list[str] = []
        self.last_flush = time.monotonic()

    def record(self, event: ProviderEvent) -> None:
        if isinstance(event, HitsFound):
            _store_hits(self.run, event.hits)
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
                self.run.update(answer_text=event.answer_text)
            _store_summary(self.run, event)
        self.thumbnails.save_finished()
        release_connection()

    def flush_text(self) -> None:
        if not self.pending_text:
            return
        text = self.search.answer_text + "".join(self.pending_text)
        self.pending_text = []
        self.last_flush = time.monotonic()
        self.run.update(answer_text=text)

    def _set_stage(self, stage: str) -> None:
        if stage != self.search.stage:
            self.run.update(stage=stage[:60])


def _collect_provider_events(run: _LeasedSearch, thumbnails: ThumbnailBatch) -> None:
    recorder = _EventRecorder(run, thumbnails)
    release_connection()  # the provider's first answer is a network wait
    try:
        for event in provider_events(run.search):
            recorder.record(event)
    finally:
        # What arrived before a failure is kept (a cut stream ends as "partial").
        recorder.flush_text()


def _store_hits(run: _LeasedSearch, hits: list[ImageHit]) -> None:
    """Persist a batch of hits in arrival order, after those already stored.

    Fenced and idempotent: it runs in one transaction that holds the lease, and a
    retry after a cut-off commit finds the batch stored and adds nothing.
    """
    search = run.search
    first_rank = search.result_count + 1

    def write() -> int:
        with search_write_fenced(search_id=search.pk, token=run.token):
            thumbs = thumbnails_for_urls(hit.image_url for hit in hits)
            rows = [
                _result_row(search, first_rank + offset, hit, thumbs)
                for offset, hit in enumerate(hits)
            ]
            Result.objects.bulk_create(rows, ignore_conflicts=True)
            _adopt_library_thumbnails(hits, thumbs)
            count = Result.objects.filter(search=search).count()
            Search.objects.filter(pk=search.pk).update(
                result_count=count, results_at=timezone.now()
            )
            return count

    search.result_count = retry_on_disconnect(write)
    publish(search.pk)


def _result_row(search: Search, rank: int, hit: ImageHit, thumbs: dict[str, Thumbnail]) -> Result:
    return Result(
        search=search,
        rank=rank,
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


def _store_summary(run: _LeasedSearch, summary: Completed) -> None:
    fields: dict[str, object] = {
        "request_id": summary.request_id[:100],
        "search_time_ms": summary.search_time_ms,
        "provider_ms": round(summary.provider_ms),
        "dropped_items": summary.dropped_items,
        "raw_response": summary.raw_response,
        **_usage_fields(summary),
    }
    if summary.query_sent:
        fields["query_sent"] = summary.query_sent[:200]
    run.update(**fields)


def _usage_fields(summary: Completed) -> dict[str, object]:
    """Tokens, billable tool calls and the estimated cost, for providers that report them."""
    if summary.total_tokens is None and not summary.tool_calls:
        return {}
    return {
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "total_tokens": summary.total_tokens,
        "tool_calls": summary.tool_calls,
        "cost_cny": search_cost_cny(
            tool_calls=summary.tool_calls,
            input_tokens=summary.input_tokens or 0,
            output_tokens=summary.output_tokens or 0,
        ),
    }


def search_cost_cny(*, tool_calls: int, input_tokens: int, output_tokens: int) -> Decimal:
    """CNY 48 per 1,000 image_search calls (api-docs 004) plus tokens at the configured rates."""
    per_call = Decimal(str(settings.IMAGE_SEARCH_PRICE_PER_1000_CALLS_CNY)) / 1000
    per_input = Decimal(str(settings.TOKEN_PRICE_INPUT_PER_1K_CNY)) / 1000
    per_output = Decimal(str(settings.TOKEN_PRICE_OUTPUT_PER_1K_CNY)) / 1000
    cost = tool_calls * per_call + input_tokens * per_input + output_tokens * per_output
    return cost.quantize(Decimal("0.00001"))


def _finish(run: _LeasedSearch, status: str, *, code: str = "", message: str = "") -> None:
    """End the run and give up its lease; a run whose lease was taken back writes nothing."""
    finished = timezone.now()
    try:
        run.update(
            status=status,
            error_code=code[:100],
            error_message=message,
            finished_at=finished,
            duration_ms=_ms_between(run.search.created_at, finished),
            lease_token="",
            lease_expires_at=None,
        )
    except LeaseLost:
        logger.warning("search %s was taken back before it finished here", run.search.pk)
