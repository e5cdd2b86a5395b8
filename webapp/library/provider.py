"""The library as a search provider: the same events as the web providers yield.

Unlike webapp/providers/*, this adapter knows Django (it reads the library's
tables and reverses its URLs): the library *is* the installation's data, so
there is no external API to keep apart from it.

Each hit is a ``LibraryImageHit``, an ``ImageHit`` subclass that adds the
library image's id, its 0–1 score and whether it is a near-duplicate of the
query image, for a caller that wants to store or show them. Code that only
knows ImageHit keeps working.

``image_url`` is the site-relative URL of the full-size view
(``/library/items/<id>/full.jpg``): the search app must not fetch it over HTTP
(the SSRF-safe fetcher refuses relative URLs anyway); use
``library_thumbnail_for(image_id)`` for the thumbnail file instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import reverse

from webapp.library.selectors import (
    LibraryFilters,
    LibraryResults,
    QueryImageError,
    library_search,
    library_thumbnail_for,
)
from webapp.providers.errors import ProviderError
from webapp.providers.events import Completed, HitsFound, ImageHit, ProviderEvent

__all__ = ["LibraryImageHit", "library_events", "library_hit_urls", "library_thumbnail_for"]


@dataclass(frozen=True, slots=True)
class LibraryImageHit(ImageHit):
    library_image_id: int = 0
    score: float = 0.0  # 0–1; see webapp.library.selectors for what it blends
    near_duplicate: bool = False


def library_hit_urls(image_id: int) -> tuple[str, str]:
    """(full image URL, item page URL), both site-relative."""
    return (
        reverse("library:full", args=[image_id]),
        reverse("library:item", args=[image_id]),
    )


def library_events(
    *,
    query: str,
    image_bytes: bytes | None,
    limit: int = 50,
    offset: int = 0,
    filters: LibraryFilters | None = None,
) -> Iterator[ProviderEvent]:
    """Search the library; yield one HitsFound (when anything matched) and Completed.

    Raises ProviderError("InvalidImage") when the query image cannot be read,
    and ProviderError("EmptyQuery") when there is neither text nor an image.
    """
    if not query.strip() and not image_bytes:
        raise ProviderError("EmptyQuery", "Type some words or choose an image to search for.")
    started = time.perf_counter()
    try:
        results = library_search(
            query=query, image_bytes=image_bytes, limit=limit, offset=offset, filters=filters
        )
    except QueryImageError as exc:
        raise ProviderError("InvalidImage", exc.message) from exc
    hits = _hits(results)
    if hits:
        yield HitsFound(hits=list(hits))
    yield Completed(
        request_id="",
        search_time_ms=round(results.took_ms),
        query_sent=query,
        provider_ms=(time.perf_counter() - started) * 1000,
        raw_response={
            "provider": "library",
            "total": results.total,
            "semantic": results.semantic,
            "semanticNotice": results.notice,
            "offset": results.offset,
            "hits": [
                {
                    "id": hit.image_id,
                    "score": hit.score,
                    "nearDuplicate": hit.near_duplicate,
                    "textScore": hit.text_score,
                    "imageScore": hit.image_score,
                    "hashDistance": hit.hash_distance,
                    "semanticScore": hit.semantic_score,
                }
                for hit in results.hits
            ],
        },
    )


def _hits(results: LibraryResults) -> list[LibraryImageHit]:
    hits = []
    for rank, hit in enumerate(results.hits, start=results.offset + 1):
        image_url, page_url = library_hit_urls(hit.image_id)
        hits.append(
            LibraryImageHit(
                rank=rank,
                title=hit.title,
                image_url=image_url,
                host_page_url=page_url,
                published_time=hit.taken_at,
                width=hit.width,
                height=hit.height,
                library_image_id=hit.image_id,
                score=hit.score,
                near_duplicate=hit.near_duplicate,
            )
        )
    return hits
