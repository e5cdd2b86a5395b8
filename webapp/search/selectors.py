"""Reads that take more than one line of ORM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.db.models import QuerySet

from webapp.search.models import Result, Search, Thumbnail


def search_history_for(*, user: User) -> QuerySet[Search]:
    return Search.objects.filter(user=user).order_by("-created_at")


def site_of(url: str) -> str:
    """The host name a person recognises: "news.sohu.com", without "www."."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


ORIENTATIONS = ("landscape", "portrait", "square")
SORTS = ("relevance", "date", "size")


@dataclass(frozen=True)
class ResultFilters:
    min_side: int = 0
    orientation: str = ""
    hide_site: str = ""
    sort: str = "relevance"

    @property
    def active(self) -> bool:
        return bool(self.min_side or self.orientation or self.hide_site or self.sort != "relevance")


def _orientation(result: Result) -> str:
    width, height = result.real_width, result.real_height
    if not width or not height:
        return ""
    if abs(width - height) <= 0.05 * max(width, height):
        return "square"
    return "landscape" if width > height else "portrait"


def _keeps(result: Result, filters: ResultFilters) -> bool:
    if filters.min_side and min(result.real_width or 0, result.real_height or 0) < filters.min_side:
        return False
    if filters.orientation and _orientation(result) != filters.orientation:
        return False
    return not (filters.hide_site and site_of(result.host_page_url) == filters.hide_site)


def _sort_key(filters: ResultFilters) -> Callable[[Result], tuple[float, ...]]:
    """Ties keep the provider's order (rank); undated images go last."""
    if filters.sort == "date":
        return lambda r: (
            0 if r.published_time else 1,
            -(r.published_time.timestamp() if r.published_time else 0),
            r.rank,
        )
    if filters.sort == "size":
        return lambda r: (-((r.real_width or 0) * (r.real_height or 0)), r.rank)
    return lambda r: (r.rank,)


def search_results(*, search: Search, filters: ResultFilters) -> list[Result]:
    """A search's results, filtered and sorted.

    A search holds at most a few hundred results, so filtering on the decoded
    size (which lives on the joined Thumbnail) is simplest done in Python.
    """
    results = [
        r for r in search.results.select_related("thumbnail").order_by("rank") if _keeps(r, filters)
    ]
    return sorted(results, key=_sort_key(filters))


def result_sites(*, search: Search) -> list[str]:
    """The distinct source sites of a search, for the "hide a site" filter."""
    urls = search.results.values_list("host_page_url", flat=True)
    return sorted({site for site in (site_of(url) for url in urls) if site})


def thumbnail_for_viewer(*, user: User, digest: str) -> Thumbnail | None:
    """A ready thumbnail the user may see: one of their results or collection items shows it.

    Thumbnails are shared between users (one fetch per image URL), so the
    hash alone must not open another person's searches to a stranger.
    """
    thumb = Thumbnail.objects.filter(url_hash=digest, state=Thumbnail.State.READY).first()
    if thumb is None:
        return None
    if Result.objects.filter(thumbnail=thumb, search__user=user).exists():
        return thumb
    if thumb.collection_items.filter(collection__user=user).exists():
        return thumb
    return None
