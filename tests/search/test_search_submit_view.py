from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from webapp.search.models import Search

URL = "/searches/"


def test_it_saves_a_queued_search_and_queues_it_after_commit(
    owner_client: Client,
    owner: User,
    queued_tasks: list[int],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(URL, {"query": " lion ", "exclude_sites": "weibo.com"})
    search = Search.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/searches/{search.pk}/"
    assert (search.user, search.query, search.status) == (owner, "lion", "queued")
    assert search.exclude_sites == "weibo.com"
    assert queued_tasks == [search.pk]


def test_it_labels_a_search_answered_by_the_emulator(
    owner_client: Client, queued_tasks: list[int], settings: Any
) -> None:
    settings.IQS_EMULATED = True
    owner_client.post(URL, {"query": "lion"})
    assert Search.objects.get().emulated is True


def test_a_long_query_is_shortened_before_sending(
    owner_client: Client, queued_tasks: list[int]
) -> None:
    owner_client.post(URL, {"query": "pictures of a lion resting in the tall grass"})
    search = Search.objects.get()
    assert search.query == "pictures of a lion resting in the tall grass"
    assert len(search.query_sent) <= 30
    assert search.was_rewritten


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Type something"),
        ("   ", "Type something"),
        ("x" * 51, "50 characters"),
        ("li\x07on", "control"),
        ("lion\x00", "Null characters"),
    ],
)
def test_it_rejects_bad_queries_and_queues_nothing(
    owner_client: Client, queued_tasks: list[int], query: str, message: str
) -> None:
    response = owner_client.post(URL, {"query": query})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Search.objects.exists()
    assert queued_tasks == []


def test_it_rejects_bad_exclude_sites(owner_client: Client, queued_tasks: list[int]) -> None:
    response = owner_client.post(URL, {"query": "lion", "exclude_sites": "not a site!"})
    assert response.status_code == 400
    assert "is not a site name" in response.content.decode()
    assert not Search.objects.exists()


def test_it_rejects_an_unknown_provider(owner_client: Client, queued_tasks: list[int]) -> None:
    response = owner_client.post(URL, {"query": "lion", "provider": "bing"})
    assert response.status_code == 400
    assert not Search.objects.exists()


def test_a_broker_that_is_down_keeps_the_search_queued_to_be_sent_later(
    owner_client: Client,
    broker_down: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(URL, {"query": "lion"})
    search = Search.objects.get()
    # The search is kept, queued and not yet sent: the sweeper sends it once the
    # broker is back (tests/search/test_leases.py).
    assert response.status_code == 302
    assert search.status == "queued"
    assert search.dispatched_at is None
    assert search.error_code == ""
    assert search.query == "lion"


def test_anonymous_is_sent_to_login(anon_client: Client, db: None) -> None:
    response = anon_client.post(URL, {"query": "lion"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Search.objects.exists()


def test_get_is_not_allowed(owner_client: Client) -> None:
    assert owner_client.get(URL).status_code == 405
