"""Reads that take more than one line of ORM: pages, menus, comparisons, exports."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import User
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from webapp.collections.exports import ExportRow, ExportSource
from webapp.collections.models import (
    Collection,
    CollectionItem,
    SavedSearch,
    SavedSearchRun,
    ShareLink,
)
from webapp.imaging.phash import near_duplicate
from webapp.search.models import Result, Search, Thumbnail
from webapp.search.selectors import ResultFilters
from webapp.search.thumbnails import url_hash

# dHash bits two copies of one picture may differ by (resized, recompressed,
# re-hosted). Measured on the emulator's pictures: copies 0–5, others 18 and up.
REHOSTED_MAX_DISTANCE = 6
# Rows an export holds at once: its memory is bounded by this, not by the item count.
EXPORT_CHUNK = 200


# --- collections ----------------------------------------------------------------------


def collections_for(*, user: User) -> QuerySet[Collection]:
    """A user's collections with their item count and cover (the first image with a picture)."""
    first_ready = CollectionItem.objects.filter(
        collection=OuterRef("pk"), thumbnail__state=Thumbnail.State.READY
    ).order_by("position", "pk")
    return (
        Collection.objects.filter(user=user)
        .annotate(
            item_count=Count("items"),
            cover_hash=Subquery(first_ready.values("thumbnail__url_hash")[:1]),
        )
        .order_by("-created_at", "-pk")
    )


def collection_items(*, collection: Collection, filters: ResultFilters) -> QuerySet[CollectionItem]:
    """A collection's items, filtered and sorted in the database (collections can be large).

    The rules match the search gallery's (search.selectors): the decoded size
    wins over the reported one; "square" is within 5%; undated and unsized
    images go last.
    """
    items = (
        CollectionItem.objects.filter(collection=collection)
        .select_related("thumbnail")
        .alias(
            real_w=Coalesce("thumbnail__width", "width"),
            real_h=Coalesce("thumbnail__height", "height"),
        )
    )
    if filters.min_side:
        items = items.filter(real_w__gte=filters.min_side, real_h__gte=filters.min_side)
    if filters.orientation:
        # Square is |w - h| <= 5% of the longer side; in whole numbers, wide is
        # w - h > w/20, that is 19·w > 20·h (and tall the other way round).
        items = items.alias(w19=F("real_w") * 19, h19=F("real_h") * 19)
        wide = Q(w19__gt=F("real_h") * 20)
        tall = Q(h19__gt=F("real_w") * 20)
        sized = Q(real_w__isnull=False, real_h__isnull=False)
        shape = {"landscape": wide, "portrait": tall, "square": ~wide & ~tall}
        items = items.filter(sized & shape[filters.orientation])
    if filters.hide_site:
        items = items.exclude(site=filters.hide_site)
    if filters.sort == "date":
        return items.order_by(F("published_time").desc(nulls_last=True), "position", "pk")
    if filters.sort == "size":
        return items.alias(area=F("real_w") * F("real_h")).order_by(
            F("area").desc(nulls_last=True), "position", "pk"
        )
    return items.order_by("position", "pk")


def collection_sites(*, collection: Collection) -> list[str]:
    """The distinct source sites in a collection, for the "hide a site" filter."""
    sites = (
        CollectionItem.objects.filter(collection=collection)
        .exclude(site="")
        .values_list("site", flat=True)
        .distinct()
        .order_by("site")
    )
    return list(sites)


def collection_share_link(*, collection: Collection) -> ShareLink | None:
    """The collection's unrevoked link (it may have expired; the page says so)."""
    return ShareLink.objects.filter(collection=collection, revoked_at__isnull=True).first()


def shared_collection(*, token: str) -> Collection | None:
    """The collection a live share token opens; None when unknown, revoked or expired."""
    link = (
        ShareLink.objects.select_related("collection")
        .filter(token=token, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .first()
    )
    return link.collection if link else None


def shared_thumbnail(*, collection: Collection, digest: str) -> Thumbnail | None:
    """A ready thumbnail, but only of an image that is in this collection."""
    return Thumbnail.objects.filter(
        url_hash=digest,
        state=Thumbnail.State.READY,
        collection_items__collection=collection,
    ).first()


# --- the "Save to…" menu and saved marks -----------------------------------------------


def save_menu_collections(*, user: User, image_url_hash: str) -> QuerySet[Collection]:
    """The user's collections for the menu, each marked whether it holds the image."""
    holds = CollectionItem.objects.filter(collection=OuterRef("pk"), image_url_hash=image_url_hash)
    return (
        Collection.objects.filter(user=user)
        .annotate(has_image=Exists(holds))
        .order_by("-created_at", "-pk")
    )


def saved_image_urls(*, user: User, search: Search) -> set[str]:
    """Which of a search's image URLs the user keeps in any collection (one query)."""
    urls = CollectionItem.objects.filter(
        collection__user=user, image_url__in=search.results.values("image_url")
    ).values_list("image_url", flat=True)
    return set(urls)


def saved_among(*, user: User, image_urls: Iterable[str]) -> set[str]:
    """Which of these image URLs the user keeps in any collection.

    One query down the image-hash index, so a gallery poll costs a few index
    probes whatever the size of the person's collections.
    """
    hashes = {url_hash(url) for url in image_urls}
    if not hashes:
        return set()
    urls = CollectionItem.objects.filter(
        image_url_hash__in=hashes, collection__user=user
    ).values_list("image_url", flat=True)
    return set(urls)


def result_for_user(*, user: User, search_id: int, rank: int) -> Result | None:
    """A result of one of the user's own searches, or None (strangers learn nothing)."""
    return (
        Result.objects.select_related("search", "thumbnail")
        .filter(search_id=search_id, rank=rank, search__user=user)
        .first()
    )


# --- saved searches ---------------------------------------------------------------------


def saved_searches_for(*, user: User) -> QuerySet[SavedSearch]:
    latest = SavedSearchRun.objects.filter(saved_search=OuterRef("pk")).order_by(
        "-created_at", "-pk"
    )
    return (
        SavedSearch.objects.filter(user=user)
        .annotate(
            run_count=Count("runs"),
            latest_search_id=Subquery(latest.values("search_id")[:1]),
            latest_run_at=Subquery(latest.values("created_at")[:1]),
        )
        .order_by("-created_at", "-pk")
    )


def saved_search_runs(*, saved_search: SavedSearch) -> QuerySet[SavedSearchRun]:
    return saved_search.runs.select_related("search").order_by("-created_at", "-pk")


@dataclass
class RunChanges:
    """How the latest finished run differs from the one before it."""

    latest: Search | None = None
    previous: Search | None = None
    new_result_ids: set[int] = field(default_factory=set)
    disappeared: list[Result] = field(default_factory=list)

    @property
    def compared(self) -> bool:
        return self.latest is not None and self.previous is not None


def _matches(result: Result, urls: set[str], hashes: list[str]) -> bool:
    """Same image URL, or a near-identical picture (a re-hosted copy)."""
    if result.image_url in urls:
        return True
    phash = result.thumbnail.phash if result.thumbnail else ""
    return any(near_duplicate(phash, other, max_distance=REHOSTED_MAX_DISTANCE) for other in hashes)


def _fingerprints(results: list[Result]) -> tuple[set[str], list[str]]:
    urls = {r.image_url for r in results}
    hashes = [r.thumbnail.phash for r in results if r.thumbnail and r.thumbnail.phash]
    return urls, hashes


def saved_search_changes(*, saved_search: SavedSearch) -> RunChanges:
    """New since the last run, and what disappeared, between the two latest finished runs.

    A run holds at most a few hundred results, so the pairwise Hamming check
    in Python is a few thousand integer XORs.
    """
    finished = [
        run.search
        for run in saved_search_runs(saved_search=saved_search).filter(
            search__status__in=[Search.Status.DONE, Search.Status.PARTIAL]
        )[:2]
    ]
    if not finished:
        return RunChanges()
    if len(finished) == 1:
        return RunChanges(latest=finished[0])
    latest, previous = finished
    now = list(latest.results.select_related("thumbnail"))
    before = list(previous.results.select_related("thumbnail").order_by("rank"))
    before_urls, before_hashes = _fingerprints(before)
    now_urls, now_hashes = _fingerprints(now)
    return RunChanges(
        latest=latest,
        previous=previous,
        new_result_ids={r.pk for r in now if not _matches(r, before_urls, before_hashes)},
        disappeared=[r for r in before if not _matches(r, now_urls, now_hashes)],
    )


# --- exports ------------------------------------------------------------------------


def _thumbnail_path(thumbnail: Thumbnail | None) -> str:
    if thumbnail is None or thumbnail.state != Thumbnail.State.READY or not thumbnail.file:
        return ""
    return str(Path(thumbnail.file))


def _collection_rows(collection_id: int) -> Iterator[ExportRow]:
    items = (
        CollectionItem.objects.filter(collection_id=collection_id)
        .select_related("thumbnail")
        .order_by("position", "pk")
    )
    for item in items.iterator(chunk_size=EXPORT_CHUNK):
        yield ExportRow(
            title=item.title,
            image_url=item.image_url,
            host_page_url=item.host_page_url,
            published_time=item.published_time,
            width=item.real_width,
            height=item.real_height,
            note=item.note,
            provider=item.provider,
            search_id=item.source_search_id,
            query=item.source_query,
            rank=item.source_rank,
            saved_at=item.saved_at,
            thumbnail_path=_thumbnail_path(item.thumbnail),
        )


def collection_export_source(*, collection: Collection) -> ExportSource:
    return ExportSource(
        kind="collection",
        name=collection.name,
        description=collection.description,
        rows=lambda: _collection_rows(collection.pk),
    )


def _search_rows(search: Search) -> Iterator[ExportRow]:
    results = search.results.select_related("thumbnail").order_by("rank")
    for result in results.iterator(chunk_size=EXPORT_CHUNK):
        yield ExportRow(
            title=result.title,
            image_url=result.image_url,
            host_page_url=result.host_page_url,
            published_time=result.published_time,
            width=result.real_width,
            height=result.real_height,
            note="",
            provider=search.provider,
            search_id=search.pk,
            query=search.query,
            rank=result.rank,
            saved_at=search.created_at,
            thumbnail_path=_thumbnail_path(result.thumbnail),
        )


def search_export_source(*, search: Search) -> ExportSource:
    label = search.query or "image search"
    return ExportSource(
        kind="search",
        name=f"Search: {label}"[:100],
        description=f"Results of the search “{label}” of {search.created_at:%d %b %Y %H:%M} UTC.",
        rows=lambda: _search_rows(search),
    )


def saved_items_version(*, user: User) -> tuple[int, int]:
    """A value that changes whenever the user adds or removes any collection item.

    (count, highest id): an addition raises the highest id, a removal lowers the
    count, so any change moves one of them. Pages that show "Saved" marks use it
    to know whether a copy they rendered earlier is still true.
    """
    totals = CollectionItem.objects.filter(collection__user=user).aggregate(
        count=Count("id"), newest=Max("id")
    )
    return totals["count"], totals["newest"] or 0
