"""UTC day and hour buckets, and percentiles, computed by the database itself."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count

from tests.dashboard.rows import search_at
from webapp.db_functions import PercentileCont, UtcDate, UtcTrunc
from webapp.search.models import Search

MIDNIGHT = datetime(2026, 3, 18, tzinfo=UTC)


def test_utc_date_cuts_at_midnight_utc(owner: User) -> None:
    search_at(owner, MIDNIGHT - timedelta(microseconds=1))
    search_at(owner, MIDNIGHT)
    search_at(owner, MIDNIGHT + timedelta(hours=23, minutes=59))
    rows = dict(
        Search.objects.annotate(day=UtcDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    assert rows == {date(2026, 3, 17): 1, date(2026, 3, 18): 2}


def test_utc_date_filters_by_day(owner: User) -> None:
    inside = search_at(owner, MIDNIGHT + timedelta(hours=1))
    search_at(owner, MIDNIGHT - timedelta(hours=1))
    found = Search.objects.alias(day=UtcDate("created_at")).filter(day=date(2026, 3, 18))
    assert list(found) == [inside]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("hour", datetime(2026, 3, 18, 13, tzinfo=UTC)),
        ("day", datetime(2026, 3, 18, tzinfo=UTC)),
        ("month", datetime(2026, 3, 1, tzinfo=UTC)),
    ],
)
def test_utc_trunc_gives_aware_utc_bucket_starts(
    owner: User, kind: str, expected: datetime
) -> None:
    search_at(owner, datetime(2026, 3, 18, 13, 45, 10, 123456, tzinfo=UTC))
    (bucket,) = Search.objects.annotate(b=UtcTrunc("created_at", kind)).values_list("b", flat=True)
    assert bucket == expected
    assert bucket.utcoffset() == timedelta(0)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's EXPLAIN QUERY PLAN")
@pytest.mark.parametrize("reader", ["daily_usage", "user_activity"])
def test_the_dashboards_big_queries_read_the_usage_index_alone(owner: User, reader: str) -> None:
    from django.test.utils import CaptureQueriesContext

    from tests.dashboard.rows import NOW
    from webapp.dashboard import selectors

    search_at(owner, MIDNIGHT)
    with CaptureQueriesContext(connection) as captured:
        getattr(selectors, reader)(selectors.window_at(NOW), selectors.Prices.from_settings())
    grouped = [q["sql"] for q in captured.captured_queries if "GROUP BY" in q["sql"]]
    assert grouped
    for query in grouped:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {query}")
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
        assert "USING COVERING INDEX search_usage_by_day" in plan
        if reader == "daily_usage":
            # Index order is day, provider, status: the GROUP BY streams, nothing is sorted.
            assert "TEMP B-TREE" not in plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no percentile_cont")
def test_percentile_cont_interpolates_like_postgresql(owner: User) -> None:
    for ms in (100, 200, 300, 400, 500):
        search_at(owner, MIDNIGHT, provider_ms=ms)
    result = Search.objects.aggregate(
        p50=PercentileCont("provider_ms", 0.5), p95=PercentileCont("provider_ms", 0.95)
    )
    assert result == {"p50": 300, "p95": 480}


def test_a_percentile_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        PercentileCont("provider_ms", 95)
