"""The Django admin: every model registered and browsable; retry and delete-older-than actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tests.dashboard.rows import minutes_ago, search_at
from tests.factories import make_result
from webapp.dashboard.models import SearchRecovery
from webapp.search.models import Result, Search, UserSearchLimit

CHANGELIST = "/admin/search/search/"
OWN_APPS = ("search", "accounts", "dashboard")


def _own_models() -> list[type]:
    return [model for label in OWN_APPS for model in apps.get_app_config(label).get_models()]


@pytest.mark.parametrize("model", [*_own_models(), User], ids=lambda m: m.__name__)
def test_every_model_is_registered_with_columns_filters_search_and_dates(model: type) -> None:
    model_admin = admin.site._registry[model]
    assert list(model_admin.list_display) != ["__str__"]
    assert model_admin.list_filter
    assert model_admin.search_fields
    assert model_admin.date_hierarchy


@pytest.mark.parametrize("model", [*_own_models(), User], ids=lambda m: m.__name__)
def test_every_changelist_opens(superuser_client: Client, owner: User, model: type) -> None:
    search = search_at(owner, minutes_ago(5), status="failed")
    make_result(search, 1)
    UserSearchLimit.objects.create(user=owner, searches_per_day=3)
    SearchRecovery.objects.create(search=search, action="retry", previous_status="failed")
    meta = model._meta  # type: ignore[attr-defined]
    url = f"/admin/{meta.app_label}/{meta.model_name}/"
    assert superuser_client.get(url).status_code == 200
    assert superuser_client.get(url, {"q": "lion"}).status_code == 200


def test_a_persons_page_carries_their_daily_limit(superuser_client: Client, owner: User) -> None:
    UserSearchLimit.objects.create(user=owner, searches_per_day=7)
    html = superuser_client.get(f"/admin/auth/user/{owner.pk}/change/").content.decode()
    assert "Daily search limit" in html
    assert 'value="7"' in html


def test_the_limit_form_can_start_from_the_dashboards_link(
    superuser_client: Client, owner: User
) -> None:
    html = superuser_client.get(f"/admin/search/usersearchlimit/add/?user={owner.pk}").content
    assert f'value="{owner.pk}"' in html.decode()


def test_staff_without_admin_rights_cannot_run_the_actions(
    staff_client: Client, owner: User
) -> None:
    search = search_at(owner, minutes_ago(5), status="failed")
    response = staff_client.post(
        CHANGELIST, {"action": "retry_failed_searches", "_selected_action": [search.pk]}
    )
    assert response.status_code == 403
    search.refresh_from_db()
    assert search.status == "failed"


# --- retry failed searches ---------------------------------------------------------------


def test_retry_failed_searches_queues_only_the_failed_ones(
    superuser_client: Client,
    owner: User,
    queued_tasks: list[int],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    failed = [search_at(owner, minutes_ago(5), status="failed") for _ in range(2)]
    done = search_at(owner, minutes_ago(5), status="done")
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            CHANGELIST,
            {
                "action": "retry_failed_searches",
                "index": 0,
                "_selected_action": [s.pk for s in [*failed, done]],
            },
            follow=True,
        )
    html = response.content.decode()
    assert "Queued 2 failed searches again." in html
    assert "Left 1 search alone: only failed searches can be retried." in html
    assert sorted(queued_tasks) == sorted(s.pk for s in failed)
    assert set(
        Search.objects.filter(pk__in=[s.pk for s in failed]).values_list("status", flat=True)
    ) == {"queued"}
    assert SearchRecovery.objects.filter(action="retry").count() == 2
    done.refresh_from_db()
    assert done.status == "done"


# --- delete searches older than… ------------------------------------------------------------


def _old_and_new(owner: User) -> tuple[Search, Search]:
    old = search_at(owner, timezone.now() - timedelta(days=100), status="done")
    make_result(old, 1)
    make_result(old, 2)
    new = search_at(owner, timezone.now() - timedelta(days=5), status="done")
    make_result(new, 1)
    return old, new


def test_delete_older_than_first_asks_for_the_age(superuser_client: Client, owner: User) -> None:
    old, new = _old_and_new(owner)
    response = superuser_client.post(
        CHANGELIST,
        {"action": "delete_searches_older_than", "index": 0, "_selected_action": [old.pk, new.pk]},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "You selected <strong>2 searches</strong>" in html
    assert 'name="days"' in html
    assert "This cannot be undone." in html
    assert Search.objects.count() == 2  # nothing deleted yet


def test_delete_older_than_deletes_only_the_old_ones_with_their_results(
    superuser_client: Client, owner: User
) -> None:
    old, new = _old_and_new(owner)
    response = superuser_client.post(
        CHANGELIST,
        {
            "action": "delete_searches_older_than",
            "_selected_action": [old.pk, new.pk],
            "select_across": "0",
            "days": "30",
            "apply": "Delete the older searches",
        },
        follow=True,
    )
    html = response.content.decode()
    assert "Deleted 1 search created before" in html
    assert "(older than 30 days), with their 2 results." in html
    assert list(Search.objects.values_list("pk", flat=True)) == [new.pk]
    assert Result.objects.filter(search_id=old.pk).count() == 0
    assert Result.objects.filter(search_id=new.pk).count() == 1


def test_delete_older_than_respects_the_selection(superuser_client: Client, owner: User) -> None:
    old, new = _old_and_new(owner)
    other_old = search_at(owner, timezone.now() - timedelta(days=200), status="done")
    superuser_client.post(
        CHANGELIST,
        {
            "action": "delete_searches_older_than",
            "_selected_action": [old.pk, new.pk],
            "days": "30",
            "apply": "Delete",
        },
    )
    assert set(Search.objects.values_list("pk", flat=True)) == {new.pk, other_old.pk}


def test_select_across_applies_to_every_search_the_list_shows(
    superuser_client: Client, owner: User
) -> None:
    _, new = _old_and_new(owner)
    other_old = search_at(owner, timezone.now() - timedelta(days=200), status="failed")
    superuser_client.post(
        CHANGELIST + "?status__exact=done",
        {
            "action": "delete_searches_older_than",
            "_selected_action": [new.pk],
            "select_across": "1",
            "days": "30",
            "apply": "Delete",
        },
    )
    # All done searches older than 30 days went; the failed one was not in the list.
    assert set(Search.objects.values_list("pk", flat=True)) == {new.pk, other_old.pk}


@pytest.mark.parametrize(
    ("days", "sentence"),
    [
        ("", "Enter an age in days, such as 90."),
        ("ninety", "Enter the age as a whole number of days, such as 90."),
        ("0", "Enter an age of at least 1 day."),
        ("-5", "Enter an age of at least 1 day."),
        ("99999999", "Enter an age of at most 36,500 days."),
    ],
)
def test_a_bad_age_is_refused_with_a_sentence_and_nothing_is_deleted(
    superuser_client: Client, owner: User, days: str, sentence: str
) -> None:
    old, new = _old_and_new(owner)
    response = superuser_client.post(
        CHANGELIST,
        {
            "action": "delete_searches_older_than",
            "_selected_action": [old.pk, new.pk],
            "days": days,
            "apply": "Delete",
        },
    )
    assert response.status_code == 200
    assert sentence in response.content.decode()
    assert Search.objects.count() == 2
