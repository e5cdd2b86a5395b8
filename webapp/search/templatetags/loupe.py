from __future__ import annotations

from django import template

from webapp.search.models import Search
from webapp.search.provider_registry import provider_label as _provider_label
from webapp.search.selectors import site_of

register = template.Library()


@register.filter
def site(url: str) -> str:
    """The source site's domain, as people read it."""
    return site_of(url or "")


@register.filter
def split_sites(value: str) -> list[str]:
    return [part for part in (value or "").split(",") if part]


@register.filter
def ms_as_seconds(value: int | None) -> str:
    if value is None:
        return ""
    return f"{value} ms" if value < 1000 else f"{value / 1000:.1f} s"


@register.simple_tag
def provider_label(search: Search) -> str:
    return _provider_label(search.provider, emulated=search.emulated)
