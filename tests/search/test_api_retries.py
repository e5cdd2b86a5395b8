"""POST /api/v1/searches under retries and a broker that is down."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from webapp.search.models import IdempotencyKey, Search


def _post(client: Client, body: object, **headers: str) -> tuple[int, dict[str, Any]]:
    response = client.post(
        "/api/v1/searches", data=json.dumps(body), content_type="application/json", headers=headers
    )
    return response.status_code, response.json()


def test_a_retry_with_the_same_idempotency_key_returns_the_first_search(
    owner_client: Client,
    queued_tasks: list[int],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first_status, first = _post(owner_client, {"query": "lion"}, **{"Idempotency-Key": "k1"})
        again_status, again = _post(owner_client, {"query": "lion"}, **{"Idempotency-Key": "k1"})
    assert (first_status, again_status) == (202, 202)
    assert again["id"] == first["id"]
    assert Search.objects.count() == 1
    assert queued_tasks == [first["id"]]  # queued once

    _, other = _post(owner_client, {"query": "lion"}, **{"Idempotency-Key": "k2"})
    _, unkeyed = _post(owner_client, {"query": "lion"})
    assert len({first["id"], other["id"], unkeyed["id"]}) == 3


def test_a_retry_reports_what_became_of_the_search(
    owner_client: Client, queued_tasks: list[int]
) -> None:
    _, first = _post(owner_client, {"query": "lion"}, **{"Idempotency-Key": "k"})
    Search.objects.filter(pk=first["id"]).update(status="done")
    _, again = _post(owner_client, {"query": "lion"}, **{"Idempotency-Key": "k"})
    assert (again["id"], again["status"]) == (first["id"], "done")


def test_keys_are_per_person_and_forgotten_after_a_day(
    owner_client: Client, stranger_client: Client, queued_tasks: list[int]
) -> None:
    _, mine = _post(owner_client, {"query": "lion"}, **{"Idempotency-Key": "same"})
    _, theirs = _post(stranger_client, {"query": "lion"}, **{"Idempotency-Key": "same"})
    assert mine["id"] != theirs["id"]

    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    _, later = _post(owner_client, {"query": "lion"}, **{"Idempotency-Key": "same"})
    assert later["id"] != mine["id"]


def test_an_over_long_key_is_refused(owner_client: Client, queued_tasks: list[int]) -> None:
    status, body = _post(owner_client, {"query": "lion"}, **{"Idempotency-Key": "x" * 256})
    assert status == 400
    assert "Idempotency-Key" in body["detail"]
    assert not Search.objects.exists()


def test_with_the_broker_down_the_answer_says_queued_and_that_is_true(
    owner: User,
    owner_client: Client,
    broker_down: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        status, body = _post(owner_client, {"query": "lion"})
    search = Search.objects.get()
    assert (status, body["status"]) == (202, "queued")
    assert (search.status, search.error_code) == ("queued", "")
