"""A staff member opens the dashboard in headless Chromium, reads it, dispatches a stuck search."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.dashboard.rows import earlier_today, minutes_ago, search_at
from tests.fixtures.browser import ARTIFACTS
from webapp.dashboard import queue_probe


@pytest.fixture
def no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live panel's answer when no worker is running, without waiting for a ping."""
    monkeypatch.setattr(
        queue_probe,
        "queue_status",
        lambda: queue_probe.QueueStatus(
            broker="disk broker (embedded mode)",
            depths=[queue_probe.QueueDepth("celery", 2)],
            notes=[
                "No worker answered a ping within 1 s: either none is running or the "
                "broker does not pass broadcasts."
            ],
        ),
    )


def _some_traffic(settings: Any) -> tuple[User, int]:
    settings.IQS_DAILY_QUOTA = 10
    settings.IQS_PRICE_PER_CALL_CNY = 0.05
    owner = User.objects.create_user("reader", password="reader-pass-123")
    for n in range(8):
        search_at(
            owner,
            earlier_today(),
            provider="iqs",
            status="done",
            attempts=1,
            provider_ms=600 + 40 * n,
            duration_ms=1400 + 90 * n,
            search_time_ms=500 + 30 * n,
        )
    for n in range(3):
        search_at(
            owner,
            timezone.now() - timedelta(days=n + 1, hours=2),
            provider="image_search",
            status="done",
            tool_calls=1,
            input_tokens=2000,
            output_tokens=300,
            provider_ms=2500,
            duration_ms=4200,
        )
    search_at(
        owner,
        minutes_ago(50),
        status="failed",
        error_code="Retrieval.Throttling.User",
        error_message="IQS is receiving too many searches from this account.",
    )
    stuck = search_at(owner, minutes_ago(30), status="queued", query="tiger at dusk")
    return owner, stuck.pk


@pytest.mark.django_db(transaction=True)
def test_staff_read_the_dashboard_and_dispatch_a_stuck_search(
    page: Any, live_server: Any, settings: Any, no_worker: None, queued_tasks: list[int]
) -> None:
    User.objects.create_user("boss", password="boss-pass-123", is_staff=True)
    _, stuck_id = _some_traffic(settings)
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "boss-pass-123")
    page.click("button[type=submit]")
    page.click("text=Dashboard")
    assert page.url.endswith("/dashboard/")

    # The live queue panel replaces its placeholder by itself (htmx, hx-trigger=load).
    page.wait_for_selector("#live-queue dt:has-text('Workers online')")
    assert page.locator("#live-queue dd").nth(2).inner_text() == "unknown"
    assert "IQS quota at 80%." in page.locator("#quota-banner").inner_text()
    assert page.locator("figure.chart svg.chart-svg").count() == 7
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # Keyboard: reach a chart's data table and open it.
    summary = page.locator("#chart-traffic-hour-status summary")
    summary.focus()
    page.keyboard.press("Enter")
    table = page.locator("#chart-traffic-hour-status table")
    assert table.is_visible()
    assert table.locator("tbody tr").count() == 24

    page.click(f"form[action='/dashboard/searches/{stuck_id}/dispatch-again/'] button")
    page.wait_for_selector(".flash li")
    assert "“tiger at dusk” was put back in the queue" in page.locator(".flash").inner_text()
    assert queued_tasks == [stuck_id]
    assert page.locator("text=Nothing is stuck.").is_visible()
    page.screenshot(path=str(ARTIFACTS / "dashboard-after-dispatch.png"))


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_fits_a_narrow_screen(
    page: Any, live_server: Any, settings: Any, no_worker: None
) -> None:
    User.objects.create_user("boss", password="boss-pass-123", is_staff=True)
    _some_traffic(settings)
    page.set_viewport_size({"width": 380, "height": 800})
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "boss-pass-123")
    page.click("button[type=submit]")
    page.goto(live_server.url + "/dashboard/")
    page.wait_for_selector("#live-queue dt:has-text('Workers online')")
    # Wide charts and tables scroll inside their own boxes; the page itself never does.
    assert page.evaluate("document.documentElement.scrollWidth") <= 380
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-narrow.png"), full_page=True)
