from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from webapp.dashboard import charts, page

register = template.Library()


@register.filter
def cny(value: Decimal | float | None) -> str:
    return page.money(value)


@register.filter
def ms(value: float | None) -> str:
    return page.milliseconds(value)


@register.filter
def ago(value: datetime | None) -> str:
    """'3 hours ago': one unit is enough at a glance (Django's timesince gives two)."""
    if value is None:
        return "—"
    return f"{timesince(value, depth=1)} ago"


@register.filter
def provider_name(key: str) -> str:
    return page.provider_name(key)


@register.simple_tag
def chart_svg_body(chart: charts.Chart) -> SafeString:
    # charts.svg_body escapes every text it writes.
    return mark_safe(charts.svg_body(chart))  # noqa: S308


@register.simple_tag
def chart_table_body(chart: charts.Chart) -> SafeString:
    return mark_safe(charts.table_body(chart))  # noqa: S308
