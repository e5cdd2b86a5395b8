"""Template helpers for the search pages' "Save to…" controls."""

from __future__ import annotations

from typing import Any

from django import template

from webapp.collections.selectors import saved_image_urls as _saved_image_urls
from webapp.search.models import Search

register = template.Library()


@register.simple_tag(takes_context=True)
def saved_image_urls(context: dict[str, Any], search: Search) -> set[str]:
    """The search's image URLs the signed-in person keeps in a collection (one query)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return set()
    return _saved_image_urls(user=user, search=search)
