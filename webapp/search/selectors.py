"""Reads that take more than one line of ORM."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import TypedDict
from urllib.parse import quote, urlsplit

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import QuerySet
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import dateformat, timezone

from webapp.search.models import Result, Search, Thumbnail


def search_history_for(*, user: User) -> QuerySet[Search]:
    return Search.objects.filter(user=user).order_by("-created_at")


@lru_cache(maxsize=4096)
def site_of(url: str) -> str:
    """The host name a person recognises: "news.sohu.com", without "www.".

    Cached: a gallery asks for the same few hosts on every render and poll.
    """
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


def filter_results(results: Iterable[Result], filters: ResultFilters) -> list[Result]:
    """Results kept by the filters, in the chosen order.

    A search holds at most a few hundred results, so filtering on the decoded
    size (which lives on the joined Thumbnail) is simplest done in Python.
    """
    return sorted((r for r in results if _keeps(r, filters)), key=_sort_key(filters))


def search_results(*, search: Search, filters: ResultFilters) -> list[Result]:
    """A search's results, filtered and sorted."""
    return filter_results(search.results.select_related("thumbnail").order_by("rank"), filters)


def sites_of(results: Iterable[Result]) -> list[str]:
    """The distinct source sites of some results, for the "hide a site" filter."""
    return sorted({site for site in (site_of(r.host_page_url) for r in results) if site})


def result_sites(*, search: Search) -> list[str]:
    """The distinct source sites of a search, for the "hide a site" filter."""
    return sites_of(search.results.only("host_page_url"))


@dataclass(frozen=True)
class Gallery:
    """What the gallery shows: the filtered results and every site (for the filter)."""

    results: list[Result]
    sites: list[str]


def search_gallery(*, search: Search, filters: ResultFilters) -> Gallery:
    """The gallery of a search from one query: the site list needs the unfiltered rows too."""
    rows = list(search.results.select_related("thumbnail").order_by("rank"))
    return Gallery(results=filter_results(rows, filters), sites=sites_of(rows))


# --- a gallery card's display values -------------------------------------------------------
#
# A gallery of 50 cards rendered 215 URL reversals and about 900 localised
# number formats, most of its 46 ms; a poll repeats it every second. So each
# card's values are worked out here once, as plain strings, and the template
# only prints them. The output is what the template's own tags and filters
# printed before (tests pin it).


def _url_maker(viewname: str, sample: str | int) -> Callable[[object], str]:
    """Reverse a URL once, then build the others by replacing its one argument.

    ``sample`` must not occur elsewhere in the URL, so a value no real URL holds is used.
    """
    head, marker, tail = reverse(viewname, args=[sample]).rpartition(str(sample))
    if not marker:
        raise ValueError(f"{viewname} does not contain its argument")
    return lambda value: f"{head}{value}{tail}"


_SAMPLE_PK = 987654321987654321
_SAMPLE_DIGEST = "f" * 64


@dataclass(frozen=True)
class CardLinks:
    """The URLs every card needs, reversed once per page (reverse honours the script prefix)."""

    thumbnail: Callable[[object], str]
    similar: Callable[[object], str]
    save_menu: str
    next_param: str  # the page's own path, quoted for the "Save to…" link's ?next=

    @classmethod
    def for_page(cls, full_path: str) -> CardLinks:
        return cls(
            thumbnail=_url_maker("search:thumbnail", _SAMPLE_DIGEST),
            similar=_url_maker("search:similar", _SAMPLE_PK),
            save_menu=reverse("collections:save_menu"),
            # What Django's |urlencode filter does.
            next_param=quote(full_path, safe="/"),
        )


class GalleryCard(TypedDict):
    """One result as its card shows it: strings to print, booleans to branch on.

    A dict rather than a dataclass: the template engine tries ``card[key]`` first
    and falls back to attributes only after an exception, at every lookup.
    """

    rank: str
    title: str
    heading: str  # the title, or "Untitled"
    aria_title: str  # the title, or "untitled image"
    size: str  # "1280 × 720", or "" when unknown
    aspect: str  # for CSS aspect-ratio: "1280 / 720", 4 / 3 standing in for what is unknown
    image_url: str
    page_url: str
    site: str  # the source page's site, else the image host's
    source: str  # "library" (a page of this site), "page" (another site), or "image" (no page)
    date_iso: str
    date_text: str
    thumb_state: str  # "ready", "unavailable", "pending", or "" with no thumbnail row
    thumb_src: str
    thumb_width: str
    thumb_height: str
    thumb_error: str
    score: str | None  # "0.87"; None when the provider gives no score
    near_duplicate: bool
    is_new: bool
    similar_url: str
    save_key: str  # "<search id>-<rank>", for the "Save to…" control's element ids
    save_menu_url: str
    saved: bool


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _date_texts(moment: datetime | None) -> tuple[str, str]:
    """(ISO, "12 Apr 2025") in the current time zone, as the |date filter prints them."""
    if moment is None:
        return "", ""
    local = timezone.localtime(moment)
    return local.isoformat(), dateformat.format(local, "j M Y")  # "c" is isoformat()


def _source(page_url: str) -> str:
    if page_url.startswith("/"):
        return "library"
    return "page" if page_url else "image"


def card_values(
    result: Result, *, links: CardLinks, saved: bool = False, is_new: bool = False
) -> GalleryCard:
    thumb = result.thumbnail
    width, height = result.real_width, result.real_height
    date_iso, date_text = _date_texts(result.published_time)
    ready = thumb is not None and thumb.state == Thumbnail.State.READY
    values: GalleryCard = {
        "rank": str(result.rank),
        "title": result.title,
        "heading": result.title or "Untitled",
        "aria_title": result.title or "untitled image",
        "size": f"{width} × {height}" if width and height else "",
        "aspect": f"{width or 4} / {height or 3}",
        "image_url": result.image_url,
        "page_url": result.host_page_url,
        "site": site_of(result.host_page_url or result.image_url),
        "source": _source(result.host_page_url),
        "date_iso": date_iso,
        "date_text": date_text,
        "thumb_state": thumb.state if thumb is not None else "",
        "thumb_src": links.thumbnail(thumb.url_hash) if ready and thumb is not None else "",
        "thumb_width": _text(thumb.thumb_width) if thumb is not None else "",
        "thumb_height": _text(thumb.thumb_height) if thumb is not None else "",
        "thumb_error": thumb.error_message if thumb is not None else "",
        # |floatformat itself, for its rounding (half up) and decimal mark.
        "score": None if result.score is None else str(floatformat(result.score, 2)),
        "near_duplicate": result.near_duplicate,
        "is_new": is_new,
        "similar_url": links.similar(result.pk),
        "save_key": f"{result.search_id}-{result.rank}",
        "save_menu_url": (
            f"{links.save_menu}?search={result.search_id}&rank={result.rank}"
            f"&next={links.next_param}"
        ),
        "saved": saved,
    }
    return values


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


@dataclass(frozen=True)
class GalleryState:
    """What decides whether a gallery page can come from the page cache."""

    status: str
    finished_at: str  # as the database gives it: only compared, never shown
    saved_run_id: int | None
    saved_items: tuple[int, int]  # see collections.selectors.saved_items_version


@cache
def _gallery_state_sql() -> str:
    from webapp.collections.models import Collection, CollectionItem, SavedSearchRun

    item, collection = CollectionItem._meta.db_table, Collection._meta.db_table
    of_user = (
        f'FROM "{item}" i JOIN "{collection}" c ON i."collection_id" = c."id" '
        f'WHERE c."user_id" = s."user_id"'
    )
    # Only table names from the models are interpolated; the values are parameters.
    search, run = Search._meta.db_table, SavedSearchRun._meta.db_table
    return (
        f'SELECT s."status", s."finished_at", r."id", '  # noqa: S608
        f'(SELECT COUNT(i."id") {of_user}), (SELECT MAX(i."id") {of_user}) '
        f'FROM "{search}" s LEFT JOIN "{run}" r ON r."search_id" = s."id" '
        f'WHERE s."id" = %s AND s."user_id" = %s'
    )


def gallery_state(*, search_id: int, user_id: int) -> GalleryState | None:
    """The search's state and the owner's collections version, in one query; None: not theirs.

    Hand-written SQL because it runs on every view of a gallery page, and the ORM
    spent longer compiling this query (about 0.7 ms) than the database running it.
    """
    with connection.cursor() as cursor:
        cursor.execute(_gallery_state_sql(), [search_id, user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    status, finished_at, saved_run_id, count, newest = row
    return GalleryState(status, str(finished_at), saved_run_id, (count or 0, newest or 0))
