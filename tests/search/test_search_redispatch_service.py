from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User

from tests.factories import make_result, make_search
from webapp.search.services import search_redispatch


def test_a_stuck_running_search_is_queued_again_and_cleared(
    owner: User, queued_tasks: list[int], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    search = make_search(owner, status="running")
    make_result(search, 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert search_redispatch(search=search) is True
    search.refresh_from_db()
    assert search.status == "queued"
    assert search.results.count() == 0
    assert queued_tasks == [search.pk]


def test_a_failed_search_can_be_retried(
    owner: User, queued_tasks: list[int], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    search = make_search(owner, status="failed", error_code="Timeout", error_message="Slow.")
    with django_capture_on_commit_callbacks(execute=True):
        assert search_redispatch(search=search)
    search.refresh_from_db()
    assert (search.status, search.error_code, search.error_message) == ("queued", "", "")


def test_a_done_search_is_left_alone(owner: User, queued_tasks: list[int]) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    assert search_redispatch(search=search) is False
    search.refresh_from_db()
    assert search.status == "done"
    assert search.results.count() == 1
    assert queued_tasks == []
