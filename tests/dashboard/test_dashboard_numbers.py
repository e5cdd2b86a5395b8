"""Every number on the dashboard, checked against rows made for the test.

Selector-level tests use a fixed "now" (rows.NOW, 18 March 2026 12:00 UTC), so
day and month boundaries are exact; page-level tests use the real clock.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from tests.dashboard.rows import NOW, earlier_today, search_at
from webapp.dashboard import queue_probe, selectors
from webapp.dashboard.page import dashboard_context
from webapp.search.models import UserSearchLimit

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MIDNIGHT = NOW.replace(hour=0)


@pytest.fixture(autouse=True)
def _no_live_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        queue_probe, "queue_status", lambda: queue_probe.QueueStatus(broker="test broker")
    )


@pytest.fixture
def prices(settings: Any) -> None:
    settings.IQS_PRICE_PER_CALL_CNY = 0.05
    settings.IMAGE_SEARCH_PRICE_PER_1000_CALLS_CNY = 48.0
    settings.TOKEN_PRICE_INPUT_PER_1K_CNY = 0.002
    settings.TOKEN_PRICE_OUTPUT_PER_1K_CNY = 0.006


# --- traffic ------------------------------------------------------------------------


def test_traffic_counts_each_search_in_its_utc_hour_and_day(owner: User, stranger: User) -> None:
    search_at(owner, NOW - HOUR, provider="iqs", status="done")
    search_at(owner, NOW - HOUR, provider="iqs", status="failed")
    search_at(stranger, NOW - 1.5 * HOUR, provider="image_search", status="done")
    search_at(owner, MIDNIGHT, provider="iqs", status="done")
    search_at(owner, MIDNIGHT - timedelta(microseconds=1), provider="iqs", status="partial")
    search_at(owner, NOW - 40 * DAY, provider="iqs", status="done")  # outside both charts

    window = selectors.window_at(NOW)
    hourly = selectors.traffic_by_hour(window)
    hour = {start.strftime("%d %H"): n for n, start in enumerate(window.hours)}
    assert hourly.by_status["done"][hour["18 11"]] == 1
    assert hourly.by_status["failed"][hour["18 11"]] == 1
    assert hourly.by_provider["iqs"][hour["18 11"]] == 2
    assert hourly.by_provider["image_search"][hour["18 10"]] == 1
    assert hourly.by_status["done"][hour["18 00"]] == 1
    assert hourly.by_status["partial"][hour["17 23"]] == 1
    assert hourly.total() == 5
    assert hourly.failed_by_provider == {"iqs": 1}

    usage = selectors.daily_usage(window, selectors.Prices.from_settings())
    assert window.days[-1] == MIDNIGHT
    assert usage.traffic.by_provider["iqs"][-1] == 3  # today: 11:00 ×2 and midnight
    assert usage.traffic.by_provider["iqs"][-2] == 1  # 23:59:59.999999 yesterday
    assert usage.traffic.by_provider["image_search"][-1] == 1
    assert usage.traffic.total() == 5  # the search of 40 days ago is not drawn
    assert usage.finished_ok_30d == 4

    context = dashboard_context(now=NOW)
    assert context["searches_today"] == 4
    assert context["searches_24h"] == 5
    assert context["failed_24h_total"] == 1


# --- quota --------------------------------------------------------------------------


def test_iqs_calls_today_count_real_runs_only(owner: User, settings: Any) -> None:
    settings.IQS_DAILY_QUOTA = 10
    search_at(owner, NOW - HOUR, provider="iqs", attempts=2, status="done")
    search_at(owner, NOW - HOUR, provider="iqs", attempts=1, emulated=True)
    search_at(owner, NOW - HOUR, provider="image_search", attempts=1, tool_calls=1)
    search_at(owner, NOW - HOUR, provider="iqs", attempts=0, status="queued")
    search_at(owner, MIDNIGHT - HOUR, provider="iqs", attempts=5)

    quota = dashboard_context(now=NOW)["quota"]
    assert (quota.calls_today, quota.quota, quota.emulated_today) == (2, 10, 1)
    assert (quota.percent, quota.remaining, quota.level) == (20, 8, "ok")


@pytest.mark.parametrize(
    ("calls", "level"),
    [(0, "ok"), (79, "ok"), (80, "warning"), (99, "warning"), (100, "exceeded"), (130, "exceeded")],
)
def test_quota_levels_switch_at_80_and_100_percent(calls: int, level: str) -> None:
    quota = selectors.Quota(calls_today=calls, quota=100, emulated_today=0, refused_today=False)
    assert quota.level == level


def test_an_iqs_refusal_today_means_the_quota_is_used_up(owner: User, settings: Any) -> None:
    settings.IQS_DAILY_QUOTA = 1000
    search_at(
        owner,
        NOW - HOUR,
        provider="iqs",
        attempts=1,
        status="failed",
        error_code="Retrieval.TestUserQueryPerDayExceeded",
    )
    assert dashboard_context(now=NOW)["quota"].level == "exceeded"


def _quota_page(client: Client, owner: User, settings: Any, calls: int) -> str:
    settings.IQS_DAILY_QUOTA = 10
    for _ in range(calls):
        search_at(owner, earlier_today(), provider="iqs", attempts=1, status="done")
    return client.get("/dashboard/").content.decode()


def test_the_page_has_no_quota_banner_below_80_percent(
    staff_client: Client, owner: User, settings: Any
) -> None:
    html = _quota_page(staff_client, owner, settings, 7)
    assert 'id="quota-banner"' not in html
    assert "<strong>7</strong> of <strong>10</strong> IQS calls used today (70%)" in html


def test_the_page_warns_at_80_percent(staff_client: Client, owner: User, settings: Any) -> None:
    html = _quota_page(staff_client, owner, settings, 8)
    assert "<strong>IQS quota at 80%.</strong>" in html
    assert "The IQS daily quota is used up" not in html


def test_the_page_shows_a_loud_banner_at_100_percent(
    staff_client: Client, owner: User, settings: Any
) -> None:
    html = _quota_page(staff_client, owner, settings, 10)
    assert 'class="banner banner-danger" role="alert" id="quota-banner"' in html
    assert "The IQS daily quota is used up." in html
    assert "10 of 10 IQS calls were made today." in html


# --- cost ---------------------------------------------------------------------------


def test_cost_arithmetic_per_day_month_provider_and_person(
    owner: User, stranger: User, prices: None
) -> None:
    search_at(owner, NOW - HOUR, provider="iqs", attempts=3)  # 3 × 0.05 = 0.15
    # 2 × 48/1000 + 1,000 × 0.002/1000 + 500 × 0.006/1000 = 0.096 + 0.002 + 0.003
    search_at(
        stranger,
        NOW - HOUR,
        provider="image_search",
        attempts=1,
        tool_calls=2,
        input_tokens=1000,
        output_tokens=500,
    )
    search_at(owner, NOW - HOUR, provider="image_search", tool_calls=5, emulated=True)  # free
    search_at(owner, NOW - HOUR, provider="library", attempts=1)  # free
    search_at(owner, MIDNIGHT - HOUR, provider="iqs", attempts=1)  # yesterday: 0.05
    search_at(owner, NOW - 36 * DAY, provider="image_search", tool_calls=10)  # February: 0.48
    search_at(stranger, NOW - 10 * DAY, provider="image_search", tool_calls=1)  # 8 March: 0.048

    context = dashboard_context(now=NOW)
    totals = {row.provider: row for row in context["cost_totals"]}
    assert totals["iqs"].today == Decimal("0.15")
    assert totals["iqs"].month == Decimal("0.20")
    assert totals["image_search"].today == Decimal("0.101")
    assert totals["image_search"].thirty_days == Decimal("0.149")
    assert totals["library"].month == 0
    assert context["cost_today"] == Decimal("0.251")
    assert context["cost_month"] == Decimal("0.349")

    this_month, last_month = context["month_rows"]
    assert this_month.month.month == 3 and not this_month.complete
    assert this_month.total == Decimal("0.349")
    assert last_month.month.month == 2 and last_month.complete
    assert last_month.total == Decimal("0.480")

    cost_rows = dict(context["cost_chart"].rows)
    today_label = NOW.strftime("%a %d %b")
    assert cost_rows[today_label] == ["CNY 0.15", "CNY 0.10", "CNY 0.00", "CNY 0.25"]

    spenders = {person.username: person for person in context["spenders"]}
    assert spenders["owner"].cost_today == Decimal("0.15")
    assert spenders["owner"].cost_week == Decimal("0.20")
    assert spenders["owner"].cost_month == Decimal("0.20")  # February is not this month
    assert spenders["stranger"].cost_week == Decimal("0.101")
    assert spenders["stranger"].cost_month == Decimal("0.149")


def test_without_prices_iqs_is_shown_as_not_priced(
    staff_client: Client, owner: User, settings: Any
) -> None:
    settings.IQS_PRICE_PER_CALL_CNY = 0.0
    search_at(owner, earlier_today(), provider="iqs", attempts=4)
    html = staff_client.get("/dashboard/").content.decode()
    assert "<strong>no price set</strong> (IQS_PRICE_PER_CALL_CNY)" in html


def test_the_spend_card_shows_todays_estimate(
    staff_client: Client, owner: User, prices: None
) -> None:
    search_at(owner, earlier_today(), provider="iqs", attempts=30)  # 1.50
    html = staff_client.get("/dashboard/").content.decode()
    assert '<h2>Spend</h2><p class="stat">CNY 1.50</p>' in html


# --- errors ---------------------------------------------------------------------------


def test_errors_are_counted_by_code_over_24_hours_and_7_days(owner: User) -> None:
    search_at(owner, NOW - 3 * DAY, status="failed", error_code="Retrieval.Throttling.User")
    search_at(owner, NOW - 2 * DAY, status="failed", error_code="Retrieval.Arrears")
    search_at(owner, NOW - 10 * DAY, status="failed", error_code="Timeout", provider="image_search")
    search_at(owner, NOW - 5 * HOUR, status="failed", error_code="Retrieval.Throttling.User")
    latest = search_at(owner, NOW - HOUR, status="failed", error_code="Retrieval.Throttling.User")
    search_at(owner, NOW - 2 * HOUR, status="partial", error_code="StreamInterrupted")
    search_at(owner, NOW - 2 * HOUR, status="done")

    errors = selectors.error_summary(selectors.window_at(NOW))
    assert [(e.provider, e.code, e.last_24h, e.last_7d) for e in errors] == [
        ("iqs", "Retrieval.Throttling.User", 2, 3),
        ("iqs", "StreamInterrupted", 1, 1),
        ("iqs", "Retrieval.Arrears", 0, 1),
    ]
    assert errors[0].latest == latest


def test_the_latest_example_links_to_its_search(staff_client: Client, owner: User) -> None:
    failed = search_at(
        owner,
        earlier_today(),
        status="failed",
        error_code="Retrieval.Arrears",
        error_message="The IQS account has an overdue balance.",
    )
    html = staff_client.get("/dashboard/").content.decode()
    assert f'href="/admin/search/search/{failed.pk}/change/">#{failed.pk} “lion”</a>' in html
    assert "<code>Retrieval.Arrears</code>" in html


# --- per-person limits ------------------------------------------------------------------


def test_usage_today_is_shown_against_each_persons_limit(
    staff_client: Client, owner: User, stranger: User, settings: Any
) -> None:
    settings.SEARCHES_PER_USER_PER_DAY = 10
    own = UserSearchLimit.objects.create(user=owner, searches_per_day=5)
    free = User.objects.create_user("free", password="free-pass-123")
    UserSearchLimit.objects.create(user=free, searches_per_day=None)
    for person, count in ((owner, 4), (stranger, 3), (free, 2)):
        for _ in range(count):
            search_at(person, earlier_today())

    context = dashboard_context(now=earlier_today() + timedelta(seconds=1))
    usage = {p.username: p for p in context["usage_today"]}
    assert (usage["owner"].searches_today, usage["owner"].limit, usage["owner"].limit_percent) == (
        4,
        5,
        80,
    )
    assert (usage["stranger"].limit, usage["stranger"].limit_percent) == (10, 30)
    assert (usage["free"].limit, usage["free"].limit_percent) == (None, None)

    html = staff_client.get("/dashboard/").content.decode()
    assert f'href="/admin/search/usersearchlimit/{own.pk}/change/">Change limit' in html
    assert f'href="/admin/search/usersearchlimit/add/?user={stranger.pk}">Set a limit' in html
    assert "Default limit: 10 a day (SEARCHES_PER_USER_PER_DAY)" in html


# --- latency --------------------------------------------------------------------------


def test_latency_percentiles_per_provider(owner: User) -> None:
    for n in range(1, 6):
        search_at(
            owner,
            NOW - n * HOUR,
            status="done",
            search_time_ms=50 * n,
            provider_ms=100 * n,
            duration_ms=1000 * n,
        )
    search_at(owner, NOW - HOUR, status="failed", provider_ms=99_999, duration_ms=99_999)

    report = selectors.latency_report(selectors.window_at(NOW), finished_ok_30d=5)
    (iqs,) = report.summary
    assert (iqs.provider, iqs.searches) == ("iqs", 5)
    # percentile_cont: p95 of 100..500 lies 0.8 of the way from 400 to 500.
    assert (iqs.wait_p50, iqs.wait_p95) == (300, 480)
    assert (iqs.total_p50, iqs.total_p95) == (3000, 4800)
    assert (iqs.reported_p50, iqs.reported_p95) == (150, 240)
    assert report.per_day["iqs"]["wait_p50"][-1] == 300
    assert report.per_day["iqs"]["total_p95"][-1] == 4800
    assert report.exact is (connection.vendor == "postgresql")


@pytest.mark.skipif(
    connection.vendor == "postgresql", reason="PostgreSQL computes percentiles exactly"
)
def test_on_sqlite_percentiles_come_from_an_even_sample_and_the_page_says_so(
    staff_client: Client, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "PERCENTILE_SAMPLE", 2)
    made = [
        search_at(owner, NOW - n * HOUR, status="done", provider_ms=100 * n, duration_ms=900)
        for n in range(1, 7)
    ]
    report = selectors.latency_report(selectors.window_at(NOW), finished_ok_30d=6)
    assert report.sample_every == 3
    assert report.sampled_rows == sum(1 for s in made if s.pk % 3 == 0)
    assert not report.exact

    html = staff_client.get("/dashboard/").content.decode()
    assert "SQLite has no percentile function" in html


# --- queues: stuck and failed -----------------------------------------------------------


def test_the_page_lists_stuck_and_failed_searches_with_their_buttons(
    staff_client: Client, owner: User, settings: Any
) -> None:
    settings.STUCK_SEARCH_MINUTES = 10
    from tests.dashboard.rows import minutes_ago

    stuck = search_at(owner, minutes_ago(30), status="queued")
    search_at(owner, minutes_ago(2), status="queued")  # just queued: not stuck
    failed = search_at(owner, minutes_ago(60), status="failed", error_code="Timeout")
    html = staff_client.get("/dashboard/").content.decode()
    assert f'action="/dashboard/searches/{stuck.pk}/dispatch-again/"' in html
    assert html.count("/dispatch-again/") == 1
    assert f'action="/dashboard/searches/{failed.pk}/retry/"' in html
    assert "1 search stuck" in html


# --- provider health ------------------------------------------------------------------------


def test_provider_health_last_success_last_error_and_streak(
    staff_client: Client, owner: User, settings: Any
) -> None:
    settings.IQS_API_KEY = "sk-never-show-this-key"
    settings.DASHSCOPE_API_KEY = ""
    success = search_at(owner, NOW - 3 * HOUR, provider="iqs", status="done")
    search_at(owner, NOW - 2 * HOUR, provider="iqs", status="failed", error_code="Timeout")
    last_error = search_at(
        owner, NOW - HOUR, provider="iqs", status="failed", error_code="Retrieval.Arrears"
    )
    search_at(owner, NOW - 5 * HOUR, provider="image_search", status="failed", error_code="X")
    search_at(owner, NOW - 4 * HOUR, provider="image_search", status="done")

    health = {p.key: p for p in dashboard_context(now=NOW)["providers"]}
    iqs = health["iqs"]
    assert (iqs.configured, iqs.last_success, iqs.last_error) == (True, success, last_error)
    assert (iqs.error_streak, iqs.state) == (2, "failing")
    image = health["image_search"]
    assert (image.configured, image.error_streak, image.state) == (False, 0, "ok")
    assert (health["library"].configured, health["library"].state) == (None, "idle")

    html = staff_client.get("/dashboard/").content.decode()
    assert "sk-never-show-this-key" not in html
    assert "configured" in html


# --- top queries and active people ----------------------------------------------------------


def test_top_queries_and_active_people_over_7_days(owner: User, stranger: User) -> None:
    for _ in range(3):
        search_at(owner, NOW - DAY, query="lion")
    search_at(owner, NOW - HOUR, query="tiger")
    search_at(owner, NOW - HOUR, query="", provider="image_search")  # an image: no text
    search_at(stranger, NOW - 2 * DAY, query="lion")
    search_at(stranger, NOW - 8 * DAY, query="cat")  # too old

    window = selectors.window_at(NOW)
    top = selectors.top_queries(window)
    assert [(q.query, q.searches, q.people) for q in top] == [("lion", 4, 2), ("tiger", 1, 1)]

    active = dashboard_context(now=NOW)["active_users"]
    assert [(p.username, p.searches_week) for p in active] == [("owner", 5), ("stranger", 1)]
    assert active[0].last_seen == NOW - HOUR
