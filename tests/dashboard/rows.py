"""Searches made at a chosen moment (created_at is auto_now_add, so it is set afterwards)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from tests.factories import make_search
from webapp.search.models import Search

# A fixed "now" for selector tests: mid-month, mid-day, so every window is unambiguous.
NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)


def search_at(user: User, when: datetime, **fields: Any) -> Search:
    search = make_search(user, **fields)
    Search.objects.filter(pk=search.pk).update(created_at=when)
    search.refresh_from_db()
    return search


def earlier_today() -> datetime:
    """A moment today (UTC) before now, whatever the clock says."""
    now = timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + (now - midnight) / 2


def minutes_ago(minutes: float) -> datetime:
    return timezone.now() - timedelta(minutes=minutes)
