from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from tests.factories import make_result, make_search
from webapp.search.models import Search


def test_history_lists_the_owners_searches_newest_first(
    owner_client: Client, owner: User, stranger: User
) -> None:
    make_search(owner, query="older", status="done", duration_ms=1234)
    make_search(owner, query="newer", status="failed", error_message="Boom sentence.")
    make_search(stranger, query="someone else's")
    html = owner_client.get("/history/").content.decode()
    assert html.index("newer") < html.index("older")
    assert "someone else" not in html
    assert "1.2 s" in html
    assert "Failed" in html


def test_history_has_an_empty_state(owner_client: Client) -> None:
    assert "No searches yet" in owner_client.get("/history/").content.decode()


def test_history_needs_sign_in(anon_client: Client) -> None:
    assert anon_client.get("/history/").status_code == 302


def test_history_refuses_post(owner_client: Client) -> None:
    assert owner_client.post("/history/").status_code == 405


def test_rerun_creates_a_new_search_with_the_same_input(
    owner_client: Client, owner: User, queued_tasks: list[int]
) -> None:
    old = make_search(owner, query="lion", exclude_sites="weibo.com", status="failed")
    response = owner_client.post(f"/searches/{old.pk}/rerun/")
    fresh = Search.objects.exclude(pk=old.pk).get()
    assert response["Location"] == f"/searches/{fresh.pk}/"
    assert (fresh.query, fresh.exclude_sites, fresh.status) == ("lion", "weibo.com", "queued")
    old.refresh_from_db()
    assert old.status == "failed"


def test_rerun_of_a_strangers_search_is_404(stranger_client: Client, owner: User) -> None:
    old = make_search(owner)
    assert stranger_client.post(f"/searches/{old.pk}/rerun/").status_code == 404
    assert Search.objects.count() == 1


def test_rerun_needs_post(owner_client: Client, owner: User) -> None:
    old = make_search(owner)
    assert owner_client.get(f"/searches/{old.pk}/rerun/").status_code == 405


def test_rerun_needs_sign_in(anon_client: Client, owner: User) -> None:
    old = make_search(owner)
    assert anon_client.post(f"/searches/{old.pk}/rerun/").status_code == 302
    assert Search.objects.count() == 1


def test_delete_removes_the_search_and_its_results(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    response = owner_client.post(f"/searches/{search.pk}/delete/")
    assert response.status_code == 302
    assert not Search.objects.exists()


def test_delete_by_htmx_answers_an_empty_row(owner_client: Client, owner: User) -> None:
    search = make_search(owner)
    response = owner_client.post(f"/searches/{search.pk}/delete/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content == b""


def test_delete_of_a_strangers_search_is_404_and_keeps_it(
    stranger_client: Client, owner: User
) -> None:
    search = make_search(owner)
    assert stranger_client.post(f"/searches/{search.pk}/delete/").status_code == 404
    assert Search.objects.filter(pk=search.pk).exists()


def test_delete_needs_post(owner_client: Client, owner: User) -> None:
    search = make_search(owner)
    assert owner_client.get(f"/searches/{search.pk}/delete/").status_code == 405


def test_delete_needs_sign_in(anon_client: Client, owner: User) -> None:
    search = make_search(owner)
    assert anon_client.post(f"/searches/{search.pk}/delete/").status_code == 302
    assert Search.objects.exists()
