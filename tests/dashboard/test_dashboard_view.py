"""/dashboard/: staff only; everyone else signed in gets 404, anonymous goes to sign in."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.dashboard.rows import earlier_today, search_at
from webapp.dashboard import queue_probe

URL = "/dashboard/"


@pytest.fixture(autouse=True)
def _no_live_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the page; the live queue panel has its own tests."""
    monkeypatch.setattr(
        queue_probe, "queue_status", lambda: queue_probe.QueueStatus(broker="test broker")
    )


def test_staff_see_the_dashboard(staff_client: Client) -> None:
    response = staff_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for heading in (
        "Traffic",
        "Latency",
        "Errors",
        "IQS quota",
        "Cost (estimated)",
        "Searches per person today",
        "Queues",
        "Provider health",
        "Top queries and active people",
    ):
        assert heading in html


def test_a_signed_in_person_who_is_not_staff_gets_404(owner_client: Client) -> None:
    assert owner_client.get(URL).status_code == 404


def test_anonymous_is_sent_to_sign_in(anon_client: Client) -> None:
    response = anon_client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_page_answers_405_to_post(staff_client: Client) -> None:
    assert staff_client.post(URL).status_code == 405


def test_the_nav_links_to_the_dashboard_only_for_staff(
    staff_client: Client, owner_client: Client
) -> None:
    assert 'href="/dashboard/"' in staff_client.get("/").content.decode()
    assert 'href="/dashboard/"' not in owner_client.get("/").content.decode()


def test_the_queue_panel_loads_by_itself_and_works_without_javascript(
    staff_client: Client,
) -> None:
    html = staff_client.get(URL).content.decode()
    assert 'hx-get="/dashboard/?panel=queues" hx-trigger="load"' in html
    assert 'href="/dashboard/?live=1#queues"' in html
    live = staff_client.get(URL + "?live=1").content.decode()
    assert "test broker" in live
    assert 'hx-trigger="load"' not in live


def test_htmx_gets_only_the_queue_partial(staff_client: Client) -> None:
    response = staff_client.get(URL + "?panel=queues", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="live-queue"' in html
    assert "<html" not in html
    assert "test broker" in html


def test_the_queue_partial_is_staff_only(owner_client: Client) -> None:
    response = owner_client.get(URL + "?panel=queues", headers={"HX-Request": "true"})
    assert response.status_code == 404


def test_every_chart_has_a_title_axis_labels_and_a_table(staff_client: Client, owner: User) -> None:
    search_at(owner, earlier_today(), status="done", provider_ms=800, duration_ms=1500)
    html = staff_client.get(URL).content.decode()
    charts = html.count('<figure class="chart"')
    assert charts == 7  # traffic ×4, latency ×2, cost ×1
    assert html.count('role="img"') == charts
    assert html.count('<details class="chart-data">') == charts
    assert html.count('class="axis-label"') == 2 * charts
    assert "Hour (UTC)" in html
    assert "Day (UTC)" in html
    assert "Milliseconds" in html


def test_user_text_in_charts_and_tables_is_escaped(staff_client: Client, owner: User) -> None:
    search_at(
        owner,
        earlier_today(),
        query="<script>alert(1)</script>",
        status="failed",
        error_code="<b>x</b>",
    )
    html = staff_client.get(URL).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html


def test_an_empty_installation_renders_with_clear_empty_states(staff_client: Client) -> None:
    html = staff_client.get(URL).content.decode()
    assert "No failed searches in the last 7 days." in html
    assert "Nothing is stuck." in html
    assert "Nobody has searched today." in html
    assert "No data in this period" in html


@pytest.mark.parametrize(
    "path", ["/dashboard/searches/1/dispatch-again/", "/dashboard/searches/1/retry/"]
)
def test_the_recovery_buttons_refuse_get(staff_client: Client, path: str) -> None:
    assert staff_client.get(path).status_code == 405


@pytest.mark.parametrize(
    "path", ["/dashboard/searches/1/dispatch-again/", "/dashboard/searches/1/retry/"]
)
def test_the_recovery_buttons_send_anonymous_to_sign_in(anon_client: Client, path: str) -> None:
    response = anon_client.post(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_an_unknown_search_is_404(staff_client: Client, settings: Any) -> None:
    assert staff_client.post("/dashboard/searches/999999/retry/").status_code == 404
