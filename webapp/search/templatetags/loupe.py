from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from django import template
from django.utils.safestring import SafeString

from webapp.search.markdown import render_safe_markdown
from webapp.search.models import Result, Search
from webapp.search.provider_registry import provider_label as _provider_label
from webapp.search.selectors import CardLinks, GalleryCard, gallery_card, site_of

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


_STAGES = {
    "sent": "Sent to the provider…",
    "retrying": "The provider is busy; trying again…",
    "searching": "Searching the web for similar images…",
    "writing": "The model is writing its answer…",
    "no_tool_call": "The model answered without searching for images.",
}


@register.filter
def stage_text(search: Search) -> str:
    """The live stage of a running search, in words."""
    stage = search.stage
    if stage.startswith("found:"):
        count = stage.partition(":")[2]
        return f"{count} image{'s' if count != '1' else ''} found; still searching…"
    return _STAGES.get(stage, "Working…")


@register.filter
def safe_markdown(text: str) -> SafeString:
    """A model's answer as safe HTML: everything escaped, then a little Markdown."""
    return render_safe_markdown(text or "")


_LINKS_KEY = "loupe.card_links"


@register.simple_tag(takes_context=True)
def card_of(
    context: template.Context,
    result: Result,
    saved_urls: Collection[str] | str = (),
    new_result_ids: Collection[int] | str = (),
) -> GalleryCard:
    """A result's card values (search.selectors.gallery_card), its URLs reversed once a page.

    A variable missing from the context arrives as "", which means "none".
    """
    # dicts[0] lives as long as the whole page's render; each included card gets
    # a fresh dict above it. Django's {% include %} caches its templates there too.
    page_cache = cast(dict[str, Any], context.render_context.dicts[0])
    links = page_cache.get(_LINKS_KEY)
    if links is None:
        request = context.get("request")
        links = CardLinks.for_page(request.get_full_path() if request is not None else "")
        page_cache[_LINKS_KEY] = links
    return gallery_card(
        result,
        links=links,
        saved=bool(saved_urls) and result.image_url in saved_urls,
        is_new=bool(new_result_ids) and result.pk in new_result_ids,
    )
