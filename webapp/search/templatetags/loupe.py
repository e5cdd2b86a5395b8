from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import Any, cast

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString

from webapp.search.markdown import render_safe_markdown
from webapp.search.models import Result, Search
from webapp.search.provider_registry import provider_label as _provider_label
from webapp.search.selectors import CardLinks, card_values, site_of

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
# Stands in for the CSRF token in remembered cards: the token is masked afresh for
# every page, so it is put in after the card's HTML is fetched.
_CSRF_SLOT = "csrf0slot0for0a0card0token"
_CSRF_INPUT = f'<input type="hidden" name="csrfmiddlewaretoken" value="{_CSRF_SLOT}">'


@lru_cache(maxsize=2048)
def _card_markup(card_template: template.Template, values: tuple[tuple[str, object], ...]) -> str:
    """The HTML of one card, remembered per distinct card (about 2 kB each).

    A gallery is polled every second and a page shows the same cards each time;
    rendering them was most of the page's cost. The markup reads nothing but the
    card's values and the CSRF slot, so the same key gives the same HTML. The
    compiled template is part of the key: when the dev server reloads an edited
    template, the cards follow.
    """
    return card_template.render(template.Context({"c": dict(values), "csrf_token": _CSRF_SLOT}))


@register.simple_tag(takes_context=True)
def gallery_card(
    context: template.Context,
    result: Result,
    saved_urls: Collection[str] | str = (),
    new_result_ids: Collection[int] | str = (),
) -> SafeString:
    """A result's card (search/_card_markup.html), from its values in search.selectors.

    A variable missing from the context arrives as "", which means "none".
    """
    card = card_values(
        result,
        links=_links_of_page(context),
        saved=bool(saved_urls) and result.image_url in saved_urls,
        is_new=bool(new_result_ids) and result.pk in new_result_ids,
    )
    # The engine's own compiled template (cached by its loader), as {% include %} uses.
    page_template = context.template
    assert page_template is not None  # set while a template renders this tag
    card_template = page_template.engine.get_template("search/_card_markup.html")
    markup = _card_markup(card_template, tuple(card.items()))
    token = context.get("csrf_token")
    if not token or token == "NOTPROVIDED":  # noqa: S105 (Django's "no token" marker)
        return SafeString(markup.replace(_CSRF_INPUT, ""))  # what {% csrf_token %} prints then
    return SafeString(markup.replace(_CSRF_SLOT, escape(str(token))))


def _links_of_page(context: template.Context) -> CardLinks:
    """The cards' URLs, reversed once a page (they depend on the request's script prefix)."""
    # dicts[0] lives as long as the whole page's render; each included card gets
    # a fresh dict above it. Django's {% include %} caches its templates there too.
    page_cache = cast(dict[str, Any], context.render_context.dicts[0])
    links = page_cache.get(_LINKS_KEY)
    if links is None:
        request = context.get("request")
        links = CardLinks.for_page(request.get_full_path() if request is not None else "")
        page_cache[_LINKS_KEY] = links
    return cast(CardLinks, links)
