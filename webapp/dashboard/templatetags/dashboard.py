from __future__ import annotations

from decimal import Decimal

from django import template

from webapp.dashboard import page

register = template.Library()


@register.filter
def cny(value: Decimal | float | None) -> str:
    return page.money(value)


@register.filter
def ms(value: float | None) -> str:
    return page.milliseconds(value)


@register.filter
def provider_name(key: str) -> str:
    return page.provider_name(key)
