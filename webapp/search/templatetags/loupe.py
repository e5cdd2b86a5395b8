from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from webapp.search.markdown import render_safe_markdown
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
