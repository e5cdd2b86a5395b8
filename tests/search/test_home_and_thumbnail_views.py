from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from tests.factories import make_result, make_search


def test_home_shows_the_form_and_recent_searches(owner_client: Client, owner: User) -> None:
    make_search(owner, query="tigers", status="done")
    html = owner_client.get("/").content.decode()
    assert 'name="query"' in html
    assert "tigers" in html


def test_home_prefills_a_query_from_the_link(owner_client: Client) -> None:
    assert 'value="狮子"' in owner_client.get("/", {"q": "狮子"}).content.decode()


def test_home_labels_the_emulator_plainly(owner_client: Client, settings: object) -> None:
    settings.IQS_EMULATED = True  # type: ignore[attr-defined]
    html = owner_client.get("/").content.decode()
    assert "IQS (offline emulator)" in html
    assert "Offline emulator" in html


def test_home_needs_sign_in(anon_client: Client) -> None:
    response = anon_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_home_refuses_post(owner_client: Client) -> None:
    assert owner_client.post("/").status_code == 405


def test_the_login_page_is_open(anon_client: Client) -> None:
    assert anon_client.get("/accounts/login/").status_code == 200


def test_thumbnails_are_served_with_long_cache_headers(owner_client: Client, owner: User) -> None:
    result = make_result(make_search(owner), 1)
    response = owner_client.get(f"/thumbs/{result.thumbnail.url_hash}.jpg")  # type: ignore[union-attr]
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "max-age=31536000" in response["Cache-Control"]
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"  # type: ignore[attr-defined]


def test_an_unknown_or_unavailable_thumbnail_is_404(owner_client: Client, owner: User) -> None:
    result = make_result(make_search(owner), 1, thumb_state="unavailable")
    assert owner_client.get(f"/thumbs/{result.thumbnail.url_hash}.jpg").status_code == 404  # type: ignore[union-attr]
    assert owner_client.get("/thumbs/" + "0" * 64 + ".jpg").status_code == 404


def test_thumbnails_need_sign_in(anon_client: Client, owner: User) -> None:
    result = make_result(make_search(owner), 1)
    assert anon_client.get(f"/thumbs/{result.thumbnail.url_hash}.jpg").status_code == 302  # type: ignore[union-attr]


def test_thumbnails_refuse_post(owner_client: Client, owner: User) -> None:
    result = make_result(make_search(owner), 1)
    assert owner_client.post(f"/thumbs/{result.thumbnail.url_hash}.jpg").status_code == 405  # type: ignore[union-attr]


def test_a_stranger_cannot_fetch_another_users_thumbnail(
    stranger_client: Client, owner: User
) -> None:
    result = make_result(make_search(owner), 1)
    url = f"/thumbs/{result.thumbnail.url_hash}.jpg"  # type: ignore[union-attr]
    assert stranger_client.get(url).status_code == 404


def test_with_no_keys_the_empty_home_suggests_library_words(
    owner_client: Client, settings: object
) -> None:
    settings.IQS_EMULATED = True  # type: ignore[attr-defined]
    settings.DASHSCOPE_EMULATED = True  # type: ignore[attr-defined]
    html = owner_client.get("/").content.decode()
    assert 'href="?q=rocket"' in html
    assert 'href="?q=lion&amp;provider=iqs"' in html


def test_a_link_can_choose_the_provider(owner_client: Client) -> None:
    html = owner_client.get("/", {"q": "lion", "provider": "iqs"}).content.decode()
    assert '<option value="iqs" selected>' in html
