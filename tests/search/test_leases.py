"""Leases, fencing and the sweeper: no search is ever stranded, none runs twice at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.factories import make_result
from webapp.search.leases import (
    INTERRUPTED_MESSAGE,
    LeaseKeeper,
    LeaseLost,
    search_claim,
    search_write_fenced,
    searches_sweep,
)
from webapp.search.models import Result, Search
from webapp.search.services import search_dispatch, search_run


def _search(owner: User, **fields: Any) -> Search:
    return Search.objects.create(user=owner, query="lion", **fields)


def _age(search: Search, **delta: float) -> None:
    Search.objects.filter(pk=search.pk).update(created_at=timezone.now() - timedelta(**delta))


def test_a_claim_leases_the_search_and_a_second_claim_gets_nothing(owner: User) -> None:
    search = _search(owner)
    token = search_claim(search_id=search.pk)
    assert token
    search.refresh_from_db()
    assert search.status == "running"
    assert search.lease_token == token
    assert search.lease_expires_at is not None and search.lease_expires_at > timezone.now()
    assert search.attempts == 1
    assert search_claim(search_id=search.pk) is None


def test_a_claim_clears_what_an_interrupted_run_left(owner: User) -> None:
    search = _search(owner, result_count=2, answer_text="half an answer", stage="found:2")
    make_result(search, 1)
    make_result(search, 2)
    assert search_claim(search_id=search.pk)
    search.refresh_from_db()
    assert not Result.objects.filter(search=search).exists()
    assert (search.result_count, search.answer_text, search.stage) == (0, "", "")


def test_a_lapsed_lease_goes_back_to_the_queue_and_is_sent_again(
    owner: User, queued_tasks: list[int]
) -> None:
    search = _search(owner)
    search_claim(search_id=search.pk)
    Search.objects.filter(pk=search.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    report = searches_sweep()
    search.refresh_from_db()
    assert report.requeued == [search.pk]
    assert search.status == "queued"
    assert search.lease_token == ""
    assert queued_tasks == [search.pk]
    assert search.dispatched_at is not None


def test_a_live_lease_is_left_alone(owner: User, queued_tasks: list[int]) -> None:
    search = _search(owner)
    search_claim(search_id=search.pk)
    assert not searches_sweep()
    search.refresh_from_db()
    assert search.status == "running"
    assert queued_tasks == []


def test_a_search_interrupted_too_often_fails_with_a_sentence(
    owner: User, settings: Any, queued_tasks: list[int]
) -> None:
    settings.SEARCH_MAX_ATTEMPTS = 2
    search = _search(owner, attempts=1)
    search_claim(search_id=search.pk)
    Search.objects.filter(pk=search.pk).update(lease_expires_at=timezone.now())
    report = searches_sweep(now=timezone.now() + timedelta(seconds=1))
    search.refresh_from_db()
    assert report.failed == [search.pk]
    assert search.status == "failed"
    assert search.error_code == "Interrupted"
    assert search.error_message == INTERRUPTED_MESSAGE.format(attempts=2)
    assert search.finished_at is not None
    assert queued_tasks == []


def test_a_search_never_sent_is_sent_after_the_grace(owner: User, queued_tasks: list[int]) -> None:
    fresh = _search(owner)  # its on-commit send may be under way right now
    forgotten = _search(owner)
    _age(forgotten, seconds=30)
    report = searches_sweep()
    assert report.redispatched == [forgotten.pk]
    assert queued_tasks == [forgotten.pk]
    fresh.refresh_from_db()
    assert fresh.dispatched_at is None


def test_a_search_sent_long_ago_and_never_claimed_is_sent_again(
    owner: User, queued_tasks: list[int]
) -> None:
    # The broker restarted without persistence and forgot the message.
    lost = _search(owner, dispatched_at=timezone.now() - timedelta(minutes=2))
    waiting = _search(owner, dispatched_at=timezone.now() - timedelta(seconds=5))
    _age(lost, minutes=2)
    _age(waiting, minutes=2)
    assert searches_sweep().redispatched == [lost.pk]
    assert queued_tasks == [lost.pk]


def test_a_search_queued_past_the_limit_fails_with_a_sentence(
    owner: User, settings: Any, queued_tasks: list[int]
) -> None:
    settings.SEARCH_QUEUED_MAX_MINUTES = 30
    search = _search(owner)
    _age(search, minutes=31)
    report = searches_sweep()
    search.refresh_from_db()
    assert report.failed == [search.pk]
    assert search.status == "failed"
    assert search.error_code == "QueueTimeout"
    assert "30 minutes" in search.error_message


def test_while_the_broker_is_down_the_search_stays_queued_until_it_is_back(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.search import tasks

    sent: list[int] = []

    def broker_down(search_id: int) -> None:
        raise ConnectionRefusedError("broker down")

    search = _search(owner)
    monkeypatch.setattr(tasks.run_search, "delay", broker_down)
    assert search_dispatch(search_id=search.pk) is False
    _age(search, seconds=30)
    assert searches_sweep().redispatched == []
    search.refresh_from_db()
    assert (search.status, search.dispatched_at) == ("queued", None)

    monkeypatch.setattr(tasks.run_search, "delay", sent.append)
    assert searches_sweep().redispatched == [search.pk]
    assert sent == [search.pk]


def test_a_fenced_write_refuses_once_the_lease_was_taken_back(owner: User) -> None:
    search = _search(owner)
    token = search_claim(search_id=search.pk)
    assert token
    with search_write_fenced(search_id=search.pk, token=token):
        pass  # still ours
    Search.objects.filter(pk=search.pk).update(status="queued", lease_token="")
    with pytest.raises(LeaseLost), search_write_fenced(search_id=search.pk, token=token):
        pytest.fail("the fenced block must not run")


def test_the_heartbeat_renews_the_leases_it_holds(owner: User) -> None:
    search = _search(owner)
    token = search_claim(search_id=search.pk)
    assert token
    soon = timezone.now() + timedelta(seconds=1)
    Search.objects.filter(pk=search.pk).update(lease_expires_at=soon)
    keeper = LeaseKeeper()
    with keeper.holding(Search, search.pk, token):
        assert keeper.renew_once() == 1
    search.refresh_from_db()
    assert search.lease_expires_at is not None and search.lease_expires_at > soon
    assert keeper.renew_once() == 0  # released: nothing held any more
    keeper.stop()


def test_a_run_taken_back_mid_way_adds_nothing_beside_the_new_run(
    owner: User, emulator: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first run's lease is taken back while the provider answers; its hits are dropped."""
    from webapp.search import services

    settings.IQS_EFFECTIVE_BASE_URL = emulator.url
    settings.IQS_API_KEY = "test-key"
    settings.FETCH_PRIVATE_ALLOWLIST = frozenset({("127.0.0.1", emulator.port)})
    search = _search(owner, provider="iqs", query_sent="lion")
    real_events = services.provider_events

    def taken_back_first(s: Search) -> Any:
        # What the sweeper does when this worker's heartbeats stop arriving.
        Search.objects.filter(pk=s.pk).update(status="queued", lease_token="")
        yield from real_events(s)

    monkeypatch.setattr(services, "provider_events", taken_back_first)
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "queued"
    assert not Result.objects.filter(search=search).exists()

    monkeypatch.setattr(services, "provider_events", real_events)
    search_run(search_id=search.pk)  # the second delivery
    search.refresh_from_db()
    assert search.status == "done", search.error_message
    ranks = list(Result.objects.filter(search=search).values_list("rank", flat=True))
    assert ranks == list(range(1, search.result_count + 1))
    assert search.attempts == 2
    assert search.lease_token == ""
