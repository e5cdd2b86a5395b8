from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from tests.factories import make_search
from webapp.search.models import Search, UserSearchLimit


def test_over_the_limit_the_form_answers_429_and_queues_nothing(
    owner_client: Client, owner: User, queued_tasks: list[int], settings: Any
) -> None:
    settings.SEARCHES_PER_USER_PER_DAY = 2
    make_search(owner)
    make_search(owner)
    response = owner_client.post("/searches/", {"query": "lion"})
    assert response.status_code == 429
    assert "all 2 searches allowed per day" in response.content.decode()
    assert Search.objects.count() == 2
    assert queued_tasks == []


def test_over_the_limit_the_api_answers_429(
    owner_client: Client, owner: User, queued_tasks: list[int], settings: Any
) -> None:
    settings.SEARCHES_PER_USER_PER_DAY = 1
    make_search(owner)
    response = owner_client.post(
        "/api/v1/searches", data=json.dumps({"query": "lion"}), content_type="application/json"
    )
    assert response.status_code == 429
    assert "searches allowed per day" in response.json()["detail"]
    assert queued_tasks == []


def test_rerun_respects_the_limit(
    owner_client: Client, owner: User, queued_tasks: list[int], settings: Any
) -> None:
    settings.SEARCHES_PER_USER_PER_DAY = 1
    search = make_search(owner)
    assert owner_client.post(f"/searches/{search.pk}/rerun/").status_code == 429
    assert Search.objects.count() == 1


def test_no_limit_when_unset(owner_client: Client, queued_tasks: list[int], settings: Any) -> None:
    settings.SEARCHES_PER_USER_PER_DAY = None
    for _ in range(3):
        assert owner_client.post("/searches/", {"query": "lion"}).status_code == 302
    assert Search.objects.count() == 3


def test_staff_can_give_one_user_a_different_limit(
    owner_client: Client,
    stranger_client: Client,
    owner: User,
    queued_tasks: list[int],
    settings: Any,
) -> None:
    settings.SEARCHES_PER_USER_PER_DAY = 0
    UserSearchLimit.objects.create(user=owner, searches_per_day=5)
    assert owner_client.post("/searches/", {"query": "lion"}).status_code == 302
    assert stranger_client.post("/searches/", {"query": "lion"}).status_code == 429


def test_a_user_limit_of_null_means_unlimited(
    owner_client: Client, owner: User, queued_tasks: list[int], settings: Any
) -> None:
    settings.SEARCHES_PER_USER_PER_DAY = 0
    UserSearchLimit.objects.create(user=owner, searches_per_day=None)
    assert owner_client.post("/searches/", {"query": "lion"}).status_code == 302
