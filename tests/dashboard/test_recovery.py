"""Stuck searches are found and dispatched again; failed ones retried; nothing is queued twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tests.dashboard.rows import minutes_ago, search_at
from tests.factories import make_result
from webapp.dashboard.models import SearchRecovery
from webapp.dashboard.selectors import stuck_searches
from webapp.dashboard.services import search_dispatch_again, search_retry
from webapp.search.models import Search

Capture = Callable[..., Any]


@pytest.fixture(autouse=True)
def _ten_minutes(settings: Any) -> None:
    settings.STUCK_SEARCH_MINUTES = 10


def _stuck_ids() -> set[int]:
    return set(stuck_searches(now=timezone.now()).values_list("pk", flat=True))


def test_searches_queued_or_running_too_long_are_stuck(owner: User) -> None:
    old_queued = search_at(owner, minutes_ago(30), status="queued")
    new_queued = search_at(owner, minutes_ago(3), status="queued")
    old_running = search_at(owner, minutes_ago(40), status="running", started_at=minutes_ago(25))
    slow_start = search_at(owner, minutes_ago(40), status="running", started_at=minutes_ago(2))
    search_at(owner, minutes_ago(60), status="done")
    search_at(owner, minutes_ago(60), status="failed")
    assert _stuck_ids() == {old_queued.pk, old_running.pk}
    assert new_queued.pk not in _stuck_ids()
    assert slow_start.pk not in _stuck_ids()


def test_a_search_dispatched_again_is_not_stuck_until_the_threshold_passes_again(
    owner: User, staff: User
) -> None:
    search = search_at(owner, minutes_ago(30), status="queued")
    recovery = SearchRecovery.objects.create(
        search=search, action="dispatch_again", staff=staff, previous_status="queued"
    )
    assert search.pk not in _stuck_ids()
    SearchRecovery.objects.filter(pk=recovery.pk).update(created_at=minutes_ago(11))
    assert search.pk in _stuck_ids()


def test_dispatch_again_queues_a_stuck_search_once(
    owner: User, staff: User, queued_tasks: list[int], django_capture_on_commit_callbacks: Capture
) -> None:
    search = search_at(owner, minutes_ago(30), status="running", started_at=minutes_ago(29))
    make_result(search, 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert search_dispatch_again(search_id=search.pk, staff=staff) is True
    with django_capture_on_commit_callbacks(execute=True):
        assert search_dispatch_again(search_id=search.pk, staff=staff) is False  # double click
    search.refresh_from_db()
    assert (search.status, search.started_at, search.results.count()) == ("queued", None, 0)
    assert queued_tasks == [search.pk]
    recovery = SearchRecovery.objects.get()
    assert (recovery.search, recovery.action, recovery.staff) == (search, "dispatch_again", staff)
    assert recovery.previous_status == "running"


def test_a_search_that_is_not_stuck_is_left_alone(
    owner: User, staff: User, queued_tasks: list[int], django_capture_on_commit_callbacks: Capture
) -> None:
    fresh = search_at(owner, minutes_ago(1), status="queued")
    done = search_at(owner, minutes_ago(60), status="done")
    with django_capture_on_commit_callbacks(execute=True):
        assert search_dispatch_again(search_id=fresh.pk, staff=staff) is False
        assert search_dispatch_again(search_id=done.pk, staff=staff) is False
    assert queued_tasks == []
    assert not SearchRecovery.objects.exists()
    done.refresh_from_db()
    assert done.status == "done"


def test_retry_queues_a_failed_search_once(
    owner: User, staff: User, queued_tasks: list[int], django_capture_on_commit_callbacks: Capture
) -> None:
    search = search_at(
        owner, minutes_ago(60), status="failed", error_code="Timeout", error_message="Slow."
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert search_retry(search_id=search.pk, staff=staff) is True
    with django_capture_on_commit_callbacks(execute=True):
        assert search_retry(search_id=search.pk, staff=staff) is False  # now queued, not failed
    search.refresh_from_db()
    assert (search.status, search.error_code, search.error_message) == ("queued", "", "")
    assert queued_tasks == [search.pk]
    assert SearchRecovery.objects.get().action == "retry"


def test_retry_leaves_searches_that_did_not_fail(
    owner: User, staff: User, queued_tasks: list[int]
) -> None:
    for status in ("done", "partial", "running", "queued"):
        search = search_at(owner, minutes_ago(60), status=status)
        assert search_retry(search_id=search.pk, staff=staff) is False
    assert queued_tasks == []
    assert set(Search.objects.values_list("status", flat=True)) == {
        "done",
        "partial",
        "running",
        "queued",
    }


# --- the buttons ---------------------------------------------------------------------------


def test_the_dispatch_again_button(
    staff_client: Client,
    owner: User,
    queued_tasks: list[int],
    django_capture_on_commit_callbacks: Capture,
) -> None:
    search = search_at(owner, minutes_ago(30), status="queued")
    url = f"/dashboard/searches/{search.pk}/dispatch-again/"
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url)
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/#stuck"
    assert queued_tasks == [search.pk]
    page = staff_client.get("/dashboard/").content.decode()
    assert f"Search #{search.pk} “lion” was put back in the queue." in page

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url)
    assert queued_tasks == [search.pk]
    page = staff_client.get("/dashboard/").content.decode()
    assert "is not stuck any more" in page
    assert "so nothing was queued" in page


def test_the_retry_button(
    staff_client: Client,
    owner: User,
    queued_tasks: list[int],
    django_capture_on_commit_callbacks: Capture,
) -> None:
    search = search_at(owner, minutes_ago(30), status="failed", error_code="Timeout")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/dashboard/searches/{search.pk}/retry/")
    assert response["Location"] == "/dashboard/#failed"
    search.refresh_from_db()
    assert search.status == "queued"
    assert queued_tasks == [search.pk]


@pytest.mark.parametrize("action", ["dispatch-again", "retry"])
def test_people_who_are_not_staff_get_404_and_nothing_is_queued(
    owner_client: Client,
    owner: User,
    queued_tasks: list[int],
    django_capture_on_commit_callbacks: Capture,
    action: str,
) -> None:
    status = "queued" if action == "dispatch-again" else "failed"
    search = search_at(owner, minutes_ago(30), status=status)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/dashboard/searches/{search.pk}/{action}/")
    assert response.status_code == 404
    assert queued_tasks == []
    search.refresh_from_db()
    assert search.status == status


@pytest.mark.django_db(transaction=True)
def test_two_staff_clicking_at_the_same_moment_queue_it_once(queued_tasks: list[int]) -> None:
    """Real transactions in two threads: the row lock makes the second click see the first."""
    import threading

    from django.db import connection

    owner = User.objects.create_user("owner2", password="owner-pass-123")
    staff = User.objects.create_user("staff2", password="staff-pass-123", is_staff=True)
    search = search_at(owner, minutes_ago(30), status="queued")
    start = threading.Barrier(2)
    outcomes: list[bool] = []

    def click() -> None:
        try:
            start.wait()
            outcomes.append(search_dispatch_again(search_id=search.pk, staff=staff))
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == [False, True]
    assert queued_tasks == [search.pk]
    assert SearchRecovery.objects.count() == 1
