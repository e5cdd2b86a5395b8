"""Fetch each result's image once, safely, and keep a small thumbnail of it.

Images are fetched concurrently in a bounded thread pool (network waits and
Pillow's decoding both release the GIL); all database writes stay on the
calling thread, so no thread needs its own database connection.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
from django.conf import settings
from django.utils import timezone

from webapp.cpu import on_cpu
from webapp.db_retry import release_connection, retry_on_disconnect
from webapp.imaging.phash import dhash_bytes
from webapp.imaging.safe_fetch import FetchError, fetch_url, make_fetch_client
from webapp.imaging.thumbnails import ImageTooLarge, NotAnImage, make_thumbnail
from webapp.search.models import Thumbnail

logger = logging.getLogger(__name__)


def url_hash(image_url: str) -> str:
    return hashlib.sha256(image_url.encode()).hexdigest()


def thumbnail_relative_path(digest: str, extension: str = "jpg") -> str:
    # Two-level fan-out keeps directories small on big installations.
    return f"thumbs/{digest[:2]}/{digest}.{extension}"


def thumbnails_for_urls(image_urls: Iterable[str]) -> dict[str, Thumbnail]:
    """The Thumbnail row for each URL, creating pending ones that are missing."""
    by_hash = {url_hash(url): url for url in image_urls}
    existing = {t.url_hash: t for t in Thumbnail.objects.filter(url_hash__in=by_hash)}
    missing = [Thumbnail(url_hash=h, image_url=u) for h, u in by_hash.items() if h not in existing]
    if missing:
        # ignore_conflicts: another worker may create the same row meanwhile.
        Thumbnail.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.url_hash: t for t in Thumbnail.objects.filter(url_hash__in=by_hash)}
    return {url: existing[h] for h, url in by_hash.items()}


@dataclass(frozen=True)
class _Outcome:
    thumbnail_id: int
    ok: bool
    file: str = ""
    width: int | None = None
    height: int | None = None
    thumb_width: int | None = None
    thumb_height: int | None = None
    source_format: str = ""
    phash: str = ""
    error_code: str = ""
    error_message: str = ""


def _fetch_one(thumbnail: Thumbnail, client: httpx.Client) -> _Outcome:
    try:
        fetched = fetch_url(
            thumbnail.image_url,
            max_bytes=settings.FETCH_MAX_BYTES,
            timeout=settings.FETCH_TIMEOUT_SECONDS,
            allowlist=settings.FETCH_PRIVATE_ALLOWLIST,
            client=client,
        )
        thumb = on_cpu(make_thumbnail, fetched.content, max_side=settings.THUMBNAIL_MAX_SIDE)
    except (FetchError, NotAnImage, ImageTooLarge) as exc:
        code = getattr(exc, "code", type(exc).__name__)
        message = getattr(exc, "message", str(exc))
        return _Outcome(thumbnail.pk, ok=False, error_code=code, error_message=message[:300])
    relative = thumbnail_relative_path(thumbnail.url_hash, thumb.extension)
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(thumb.data)
    return _Outcome(
        thumbnail.pk,
        ok=True,
        file=relative,
        width=thumb.width,
        height=thumb.height,
        thumb_width=thumb.thumb_width,
        thumb_height=thumb.thumb_height,
        source_format=thumb.source_format,
        # Hashed from the finished thumbnail: ~0.1 ms, to spot re-hosted copies.
        phash=dhash_bytes(thumb.data),
    )


def _fetch_safely(thumbnail: Thumbnail, client: httpx.Client) -> _Outcome:
    """One image's failure must never stop the others."""
    try:
        return _fetch_one(thumbnail, client)
    except Exception:
        logger.exception("thumbnail failed for %s", thumbnail.pk)
        return _Outcome(
            thumbnail.pk, ok=False, error_code="internal", error_message="Could not process."
        )


def _save_outcome(outcome: _Outcome) -> None:
    fields = {
        "state": Thumbnail.State.READY if outcome.ok else Thumbnail.State.UNAVAILABLE,
        "file": outcome.file,
        "width": outcome.width,
        "height": outcome.height,
        "thumb_width": outcome.thumb_width,
        "thumb_height": outcome.thumb_height,
        "source_format": outcome.source_format,
        "phash": outcome.phash,
        "error_code": outcome.error_code,
        "error_message": outcome.error_message,
        "fetched_at": timezone.now(),
    }
    Thumbnail.objects.filter(pk=outcome.thumbnail_id).update(**fields)


_pool: ThreadPoolExecutor | None = None
_client: httpx.Client | None = None
_pool_lock = threading.Lock()


def _fetchers() -> tuple[ThreadPoolExecutor, httpx.Client]:
    """The process's image fetchers and their HTTP client, shared by every search it runs.

    One pool, not one per search: a worker runs many searches in threads, and a
    pool each would start THUMBNAIL_CONCURRENCY threads per search. Fetching is a
    network wait; the decoding inside it goes through the CPU pool (webapp/cpu.py).
    One client too (it is thread-safe), so connections to a host are reused, and
    no search can close it under another's feet.
    """
    global _pool, _client
    with _pool_lock:
        if _pool is None or _client is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.THUMBNAIL_CONCURRENCY, thread_name_prefix="thumbnail-fetch"
            )
            _client = make_fetch_client()
        return _pool, _client


_in_flight: dict[int, Future[_Outcome]] = {}
_in_flight_lock = threading.Lock()


def _fetch_once(
    pool: ThreadPoolExecutor, thumbnail: Thumbnail, client: httpx.Client
) -> Future[_Outcome]:
    """The fetch of this thumbnail, shared with any search in this process already fetching it.

    Many people searching the same words at once get the same image URLs; each
    image is then fetched and decoded once, and every search saves the outcome.
    """
    with _in_flight_lock:
        future = _in_flight.get(thumbnail.pk)
        if future is None:
            future = pool.submit(_fetch_safely, thumbnail, client)
            _in_flight[thumbnail.pk] = future
            future.add_done_callback(partial(_forget_fetch, thumbnail.pk))
        return future


def _forget_fetch(thumbnail_id: int, future: Future[_Outcome]) -> None:
    with _in_flight_lock:
        if _in_flight.get(thumbnail_id) is future:
            del _in_flight[thumbnail_id]


class ThumbnailBatch:
    """Fetch thumbnails in the background while the caller goes on.

    ``submit()`` starts fetching at once in a bounded thread pool; the caller
    saves finished ones with ``save_finished()`` whenever it has a moment (a
    streaming provider does so between events), and ``close()`` saves the rest
    as each one finishes. Only the calling thread touches the database, and it
    calls ``on_saved`` after each save, so open pages can show the thumbnail.
    """

    def __init__(self, on_saved: Callable[[], None] | None = None) -> None:
        self._pool, self._client = _fetchers()
        self._running: list[Future[_Outcome]] = []
        self._seen: set[int] = set()
        self._on_saved = on_saved
        self.ready = 0

    def submit(self, thumbnails: Iterable[Thumbnail]) -> None:
        """Start fetching every pending thumbnail not already started (safe to repeat)."""
        for thumb in thumbnails:
            if thumb.state == Thumbnail.State.PENDING and thumb.pk not in self._seen:
                self._seen.add(thumb.pk)
                self._running.append(_fetch_once(self._pool, thumb, self._client))

    def save_finished(self) -> None:
        finished = [future for future in self._running if future.done()]
        self._running = [future for future in self._running if not future.done()]
        self._save_all(finished)

    def close(self) -> None:
        """Wait for every fetch, saving each as it lands.

        After an error, fetches still running are left to finish (each has its own
        deadline): another search may be sharing them.
        """
        while self._running:
            release_connection()  # the wait is the network's
            done, pending = wait(self._running, return_when=FIRST_COMPLETED)
            self._running = list(pending)
            self._save_all(list(done))

    def _save_all(self, finished: list[Future[_Outcome]]) -> None:
        if not finished:
            return
        for future in finished:
            if future.cancelled():
                continue
            outcome = future.result()
            retry_on_disconnect(partial(_save_outcome, outcome))
            self.ready += outcome.ok
        if self._on_saved is not None:
            self._on_saved()

    def __enter__(self) -> ThumbnailBatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def thumbnails_fetch(*, thumbnails: Iterable[Thumbnail]) -> int:
    """Fetch and store every pending thumbnail given; return how many became ready.

    Safe to run twice: only rows still pending are fetched.
    """
    with ThumbnailBatch() as batch:
        batch.submit(thumbnails)
    return batch.ready
