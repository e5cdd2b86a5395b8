"""Saved searches: saving, re-running (by hand and on schedule), and what changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tests.factories import make_result, make_search
from webapp.collections.models import SavedSearch, SavedSearchRun
from webapp.collections.selectors import saved_search_changes
from webapp.collections.services import (
    SavedSearchRunRefused,
    saved_search_create,
    saved_search_run,
    saved_searches_run_due,
)
from webapp.search.models import Result, Search, Thumbnail

H_LION = "0c8d8d2c7ccb5969"
H_LION_REHOSTED = "0c8d8d2c3ccb5969"  # 1 bit away: the same picture elsewhere
H_OTHER = "a91918181c5c4484"
H_GONE = "60668e1d294050c0"


def _phash(result: Any, value: str) -> None:
    Thumbnail.objects.filter(pk=result.thumbnail_id).update(phash=value)


def test_saving_a_search_keeps_its_input_and_makes_it_the_first_run(
    owner_client: Client, owner: User
) -> None:
    search = make_search(owner, query="lion", exclude_sites="a.com", status="done")
    params: dict[str, str | int] = {"search": search.pk, "sort": "size"}
    page = owner_client.get("/saved-searches/new/", params)
    assert page.status_code == 200
    assert 'value="lion"' in page.content.decode()  # the name starts as the query
    response = owner_client.post(
        f"/saved-searches/new/?search={search.pk}&sort=size",
        {"name": "Lions weekly", "schedule": "weekly"},
    )
    saved = SavedSearch.objects.get()
    assert response["Location"] == f"/saved-searches/{saved.pk}/"
    assert (saved.user, saved.name, saved.query, saved.exclude_sites, saved.provider) == (
        owner,
        "Lions weekly",
        "lion",
        "a.com",
        "iqs",
    )
    assert saved.filters == {"sort": "size"}
    assert saved.schedule == "weekly"
    assert saved.next_run_at is not None
    assert timedelta(days=6) < saved.next_run_at - timezone.now() <= timedelta(days=7)
    assert SavedSearchRun.objects.get().search == search
    html = owner_client.get(f"/searches/{search.pk}/").content.decode()
    assert "Saved search: Lions weekly" in html


def test_a_saved_search_needs_a_name(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    response = owner_client.post(f"/saved-searches/new/?search={search.pk}", {"name": ""})
    assert response.status_code == 400
    assert "Give the saved search a name." in response.content.decode()
    assert not SavedSearch.objects.exists()


def test_saving_a_strangers_or_missing_search_is_404(owner_client: Client, stranger: User) -> None:
    theirs = make_search(stranger, status="done")
    assert owner_client.get("/saved-searches/new/", {"search": theirs.pk}).status_code == 404
    assert owner_client.get("/saved-searches/new/", {"search": "x"}).status_code == 404
    assert owner_client.get("/saved-searches/new/").status_code == 404


def test_run_now_queues_a_normal_search_linked_to_the_saved_one(
    owner_client: Client,
    owner: User,
    queued_tasks: list[int],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    first = make_search(owner, query="lion", exclude_sites="a.com", status="done")
    saved = saved_search_create(user=owner, search=first, name="Lions")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/saved-searches/{saved.pk}/run/")
    assert response["Location"] == f"/saved-searches/{saved.pk}/"
    fresh = Search.objects.exclude(pk=first.pk).get()
    assert (fresh.query, fresh.exclude_sites, fresh.status, fresh.user) == (
        "lion",
        "a.com",
        "queued",
        owner,
    )
    assert queued_tasks == [fresh.pk]
    run = SavedSearchRun.objects.get(search=fresh)
    assert (run.saved_search, run.trigger) == (saved, "manual")


def test_run_now_over_the_daily_limit_says_so_and_queues_nothing(
    owner_client: Client, owner: User, queued_tasks: list[int], settings: Any
) -> None:
    saved = saved_search_create(user=owner, search=make_search(owner), name="Lions")
    settings.SEARCHES_PER_USER_PER_DAY = 1
    response = owner_client.post(f"/saved-searches/{saved.pk}/run/")
    assert response.status_code == 429
    html = response.content.decode()
    assert "This search could not run: You have used all 1 searches allowed per day." in html
    assert Search.objects.count() == 1 and queued_tasks == []
    saved.refresh_from_db()
    assert saved.last_error.startswith("This search could not run")


def test_input_that_is_no_longer_valid_is_refused_with_a_sentence(
    owner: User, queued_tasks: list[int]
) -> None:
    saved = saved_search_create(user=owner, search=make_search(owner), name="Broken")
    SavedSearch.objects.filter(pk=saved.pk).update(exclude_sites="not a site!")
    saved.refresh_from_db()
    try:
        saved_search_run(saved_search=saved)
    except SavedSearchRunRefused as exc:
        assert "input is no longer accepted" in exc.message
        assert "is not a site name" in exc.message
    else:
        raise AssertionError("the run should have been refused")
    assert queued_tasks == []


def test_an_image_search_whose_image_is_gone_cannot_run(
    owner: User, queued_tasks: list[int]
) -> None:
    search = make_search(owner, query="", provider="image_search", query_image="uploads/x.png")
    saved = saved_search_create(user=owner, search=search, name="Like this")
    try:
        saved_search_run(saved_search=saved)
    except SavedSearchRunRefused as exc:
        assert "no longer stored" in exc.message
    else:
        raise AssertionError("the run should have been refused")
    assert Search.objects.count() == 1


def test_an_image_search_runs_again_with_its_stored_image(
    owner: User, queued_tasks: list[int], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    from webapp.emulator.images import render_jpeg
    from webapp.search.query_images import query_image_store

    stored = query_image_store(render_jpeg(640, 480, 5))
    first = make_search(
        owner, query="", query_sent="", provider="image_search", query_image=stored.name
    )
    saved = saved_search_create(user=owner, search=first, name="Like this")
    with django_capture_on_commit_callbacks(execute=True):
        run = saved_search_run(saved_search=saved)
    # The stored image goes through search_create again (re-encoded, so a new name).
    assert run.search.provider == "image_search"
    assert run.search.query_image.startswith("uploads/")
    assert run.search.pk != first.pk
    assert queued_tasks == [run.search.pk]


def test_the_beat_runs_due_searches_once(
    owner: User, queued_tasks: list[int], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    due = saved_search_create(user=owner, search=make_search(owner), name="Due", schedule="daily")
    later = saved_search_create(
        user=owner, search=make_search(owner), name="Later", schedule="daily"
    )
    manual = saved_search_create(user=owner, search=make_search(owner), name="Manual")
    past = timezone.now() - timedelta(minutes=1)
    SavedSearch.objects.filter(pk=due.pk).update(next_run_at=past)

    with django_capture_on_commit_callbacks(execute=True):
        assert saved_searches_run_due() == 1
        assert saved_searches_run_due() == 0  # a second beat (or a redelivery) runs nothing
    assert list(
        SavedSearchRun.objects.filter(trigger="schedule").values_list("saved_search", flat=True)
    ) == [due.pk]
    due.refresh_from_db()
    assert due.next_run_at is not None and due.next_run_at > timezone.now() + timedelta(hours=23)
    assert len(queued_tasks) == 1
    assert later.runs.filter(trigger="schedule").count() == 0
    assert manual.next_run_at is None


def test_a_refused_scheduled_run_waits_for_its_next_turn(
    owner: User, queued_tasks: list[int], settings: Any
) -> None:
    saved = saved_search_create(
        user=owner, search=make_search(owner), name="Due", schedule="weekly"
    )
    SavedSearch.objects.filter(pk=saved.pk).update(next_run_at=timezone.now())
    settings.SEARCHES_PER_USER_PER_DAY = 0
    assert saved_searches_run_due() == 0
    saved.refresh_from_db()
    assert "could not run" in saved.last_error
    assert saved.next_run_at is not None and saved.next_run_at > timezone.now()
    assert queued_tasks == []


def _two_runs(owner: User) -> tuple[SavedSearch, Search, Search]:
    previous = make_search(owner, query="lion", status="done")
    saved = saved_search_create(user=owner, search=previous, name="Lions")
    _phash(make_result(previous, 1, image_url="https://a.com/lion.jpg", title="Lion"), H_LION)
    _phash(make_result(previous, 2, image_url="https://b.com/gone.jpg", title="Gone"), H_GONE)
    _phash(make_result(previous, 3, image_url="https://c.com/same.jpg", title="Same"), H_OTHER)
    latest = make_search(owner, query="lion", status="done")
    SavedSearchRun.objects.create(saved_search=saved, search=latest, trigger="manual")
    _phash(
        make_result(latest, 1, image_url="https://mirror.example/copy.jpg", title="Rehosted"),
        H_LION_REHOSTED,
    )
    same = Thumbnail.objects.get(image_url="https://c.com/same.jpg")  # shared, as in real runs
    Result.objects.create(
        search=latest, rank=2, image_url=same.image_url, thumbnail=same, title="Same"
    )
    _phash(make_result(latest, 3, image_url="https://d.com/new.jpg", title="Brand new"), "")
    return saved, previous, latest


def test_new_since_last_run_ignores_rehosted_copies_and_counts_what_disappeared(
    owner: User,
) -> None:
    saved, previous, latest = _two_runs(owner)
    changes = saved_search_changes(saved_search=saved)
    assert (changes.latest, changes.previous) == (latest, previous)
    assert {r.title for r in latest.results.filter(pk__in=changes.new_result_ids)} == {"Brand new"}
    assert [r.title for r in changes.disappeared] == ["Gone"]


def test_the_page_marks_new_results_and_says_how_many_disappeared(
    owner_client: Client, owner: User
) -> None:
    saved, _, _ = _two_runs(owner)
    html = owner_client.get(f"/saved-searches/{saved.pk}/").content.decode()
    assert "<strong>1 new</strong>" in html
    assert "<strong>1 result disappeared</strong>" in html
    assert html.count('class="badge new-badge"') == 1
    cards = html.split('<li class="card"')[1:]
    assert [">Brand new</h3>" in card for card in cards if "new-badge" in card] == [True]
    assert "Gone" in html  # listed under "Show what disappeared"
    assert "☆ Save to…" in html  # the cards can be saved from here too


def test_a_run_that_has_not_finished_is_not_compared_yet(owner: User) -> None:
    saved, previous, latest = _two_runs(owner)
    running = make_search(owner, status="running")
    SavedSearchRun.objects.create(saved_search=saved, search=running, trigger="manual")
    changes = saved_search_changes(saved_search=saved)
    assert (changes.latest, changes.previous) == (latest, previous)


def test_the_page_polls_while_a_run_is_in_progress(owner_client: Client, owner: User) -> None:
    saved = saved_search_create(user=owner, search=make_search(owner, status="running"), name="S")
    url = f"/saved-searches/{saved.pk}/"
    polling = owner_client.get(url, headers={"HX-Request": "true"})
    assert polling.status_code == 200
    assert 'hx-trigger="every 2s"' in polling.content.decode()
    Search.objects.update(status="done")
    done = owner_client.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling
    assert "This is the first finished run" in done.content.decode()


def test_editing_the_schedule_sets_or_clears_the_next_run(
    owner_client: Client, owner: User
) -> None:
    saved = saved_search_create(user=owner, search=make_search(owner), name="S")
    url = f"/saved-searches/{saved.pk}/edit/"
    owner_client.post(url, {"name": "Daily lions", "schedule": "daily"})
    saved.refresh_from_db()
    assert (saved.name, saved.schedule) == ("Daily lions", "daily")
    assert saved.next_run_at is not None
    owner_client.post(url, {"name": "Daily lions", "schedule": "manual"})
    saved.refresh_from_db()
    assert (saved.schedule, saved.next_run_at) == ("manual", None)
    response = owner_client.post(url, {"name": "Daily lions", "schedule": "hourly"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_deleting_keeps_the_searches_in_history(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    saved = saved_search_create(user=owner, search=search, name="S")
    response = owner_client.post(f"/saved-searches/{saved.pk}/delete/")
    assert response["Location"] == "/saved-searches/"
    assert not SavedSearch.objects.exists() and not SavedSearchRun.objects.exists()
    assert Search.objects.filter(pk=search.pk).exists()


def test_the_list_shows_each_saved_search(owner_client: Client, owner: User) -> None:
    saved_search_create(user=owner, search=make_search(owner), name="Lions", schedule="daily")
    html = owner_client.get("/saved-searches/").content.decode()
    assert "Lions" in html and "Every day" in html
    assert "No saved searches yet" in make_empty_list(owner_client)


def make_empty_list(client: Client) -> str:
    SavedSearch.objects.all().delete()
    return client.get("/saved-searches/").content.decode()
