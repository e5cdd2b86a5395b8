"""Rendered gallery pages of finished searches, kept so a revisit costs no rendering.

A finished search never changes (its results and their thumbnails are final),
so its gallery, as one person sees it, depends only on:
- the search and when it finished (a re-run is a new search);
- the URL's query string (filters, sort) and whether htmx asked for the partial;
- whether it is a saved search, and which of its images the person keeps in a
  collection (``saved_items_version``: any change to their collections moves it).
The view reads all of these with the search's status in one query.
Those make the cache key; an entry never needs deleting, it simply stops being
asked for. The CSRF token differs per person and per response, so pages are
kept with a placeholder and the request's own token goes in on the way out.

The cache is the "pages" cache (per process, in memory): a miss only costs the
render this module saves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import caches
from django.http import HttpRequest
from django.middleware.csrf import get_token

CSRF_PLACEHOLDER = "csrf-placeholder-5d1c0e"
KEEP_SECONDS = 3600


@dataclass(frozen=True)
class PageVersion:
    """What identifies a finished search's page, besides the person and the URL."""

    search_id: int
    finished_at: str
    saved_run_id: int | None
    # webapp.collections.selectors.saved_items_version: the person's collections changed.
    saved_items: tuple[int, int]


def finished_page(
    request: HttpRequest, version: PageVersion, *, partial: bool, render: Callable[[str], str]
) -> str:
    """The page (or its partial), from the cache or from ``render(csrf_token)``."""
    key = _key(request, version, partial=partial)
    html: str | None = caches["pages"].get(key)
    if html is None:
        html = render(CSRF_PLACEHOLDER)
        caches["pages"].set(key, html, KEEP_SECONDS)
    return html.replace(CSRF_PLACEHOLDER, get_token(request))


def _key(request: HttpRequest, version: PageVersion, *, partial: bool) -> str:
    parts = [
        version.search_id,
        version.finished_at,
        version.saved_run_id,
        "partial" if partial else "page",
        request.GET.urlencode(),
        *version.saved_items,
    ]
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return f"gallery:{digest}"
