"""Rendered gallery pages of finished searches, kept so a revisit costs no rendering.

A finished search never changes (its results and their thumbnails are final),
so its gallery, as one person sees it, depends only on:
- the search and when it finished (a re-run is a new search);
- the URL's query string (filters, sort) and whether htmx asked for the partial;
- whether it is a saved search, and which of its images the person keeps in a
  collection (``saved_items_version``: any change to their collections moves it).
Those make the cache key; an entry never needs deleting, it simply stops being
asked for. The CSRF token differs per person and per response, so pages are
kept with a placeholder and the request's own token goes in on the way out.

The cache is Django's default (per process, in memory): a miss only costs the
render this module saves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.core.cache import cache
from django.http import HttpRequest
from django.middleware.csrf import get_token

from webapp.collections.selectors import saved_items_version
from webapp.search.models import Search

CSRF_PLACEHOLDER = "csrf-placeholder-5d1c0e"
KEEP_SECONDS = 3600


def finished_page(
    request: HttpRequest, search: Search, *, partial: bool, render: Callable[[str], str]
) -> str:
    """The page (or its partial), from the cache or from ``render(csrf_token)``."""
    key = _key(request, search, partial=partial)
    html: str | None = cache.get(key)
    if html is None:
        html = render(CSRF_PLACEHOLDER)
        cache.set(key, html, KEEP_SECONDS)
    return html.replace(CSRF_PLACEHOLDER, get_token(request))


def _key(request: HttpRequest, search: Search, *, partial: bool) -> str:
    saved_run = getattr(search, "saved_run", None)
    parts = [
        search.pk,
        search.finished_at.isoformat() if search.finished_at else "",
        "partial" if partial else "page",
        request.GET.urlencode(),
        saved_run.pk if saved_run is not None else "",
        *saved_items_version(user=search.user),
    ]
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return f"gallery:{digest}"
