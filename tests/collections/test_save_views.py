"""“Save to…” from a result card or the lightbox: the menu, saving, and a new collection."""

from __future__ import annotations

from urllib.parse import quote

from django.contrib.auth.models import User
from django.test import Client

from tests.collections.factories import make_collection
from tests.factories import make_result, make_search
from webapp.collections.models import Collection, CollectionItem

HTMX = {"HX-Request": "true"}


def test_the_menu_lists_collections_and_marks_the_ones_holding_the_image(
    owner_client: Client, owner: User
) -> None:
    search = make_search(owner, status="done")
    result = make_result(search, 1)
    holding, other = make_collection(owner, "Holding"), make_collection(owner, "Other")
    owner_client.post(f"/collections/{holding.pk}/save/", {"search": search.pk, "rank": 1})
    response = owner_client.get(
        "/collections/save/", {"search": search.pk, "rank": 1}, headers=HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert f'action="/collections/{holding.pk}/save/"' in body
    assert f'action="/collections/{other.pk}/save/"' in body
    assert body.count('aria-pressed="true"') == 1
    assert "(already saved here)" in body
    assert (
        result.title
        in owner_client.get("/collections/save/", {"search": search.pk, "rank": 1}).content.decode()
    )  # the full page works without JavaScript


def test_saving_copies_the_result_into_the_collection(owner_client: Client, owner: User) -> None:
    search = make_search(owner, query="lion", status="done")
    result = make_result(search, 3, title="A lion at dusk", width=1000, height=1330)
    collection = make_collection(owner)
    response = owner_client.post(
        f"/collections/{collection.pk}/save/",
        {"search": search.pk, "rank": 3, "next": f"/searches/{search.pk}/"},
        headers=HTMX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Saved to “Lions”." in body
    # The card's own link turns into "Saved", out of band.
    assert f'id="save-toggle-{search.pk}-3" hx-swap-oob="true"' in body
    assert "★ Saved" in body
    item = CollectionItem.objects.get()
    assert (item.collection, item.title, item.image_url, item.host_page_url) == (
        collection,
        "A lion at dusk",
        result.image_url,
        result.host_page_url,
    )
    assert (item.width, item.height, item.published_time) == (1000, 1330, result.published_time)
    assert (item.provider, item.source_search, item.source_query, item.source_rank) == (
        "iqs",
        search,
        "lion",
        3,
    )
    assert item.thumbnail == result.thumbnail
    assert item.site == "news.example.com"


def test_saving_twice_changes_nothing(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    collection = make_collection(owner)
    url = f"/collections/{collection.pk}/save/"
    owner_client.post(url, {"search": search.pk, "rank": 1}, headers=HTMX)
    response = owner_client.post(url, {"search": search.pk, "rank": 1}, headers=HTMX)
    assert "Already in “Lions”." in response.content.decode()
    assert CollectionItem.objects.count() == 1


def test_one_image_can_be_in_several_collections(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    for name in ("One", "Two"):
        collection = make_collection(owner, name)
        owner_client.post(f"/collections/{collection.pk}/save/", {"search": search.pk, "rank": 1})
    assert CollectionItem.objects.count() == 2


def test_without_javascript_saving_returns_to_the_menu_page(
    owner_client: Client, owner: User
) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    collection = make_collection(owner)
    back = f"/searches/{search.pk}/?sort=size"
    response = owner_client.post(
        f"/collections/{collection.pk}/save/", {"search": search.pk, "rank": 1, "next": back}
    )
    assert response.status_code == 302
    assert response["Location"] == (
        f"/collections/save/?search={search.pk}&rank=1&next={quote(back, safe='')}"
    )
    page = owner_client.get(response["Location"]).content.decode()
    assert f'href="{back}"' in page
    assert 'aria-pressed="true"' in page


def test_next_never_leaves_the_site(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    params: dict[str, str | int] = {"search": search.pk, "rank": 1, "next": "https://evil.site/"}
    html = owner_client.get("/collections/save/", params).content.decode()
    assert "evil.site" not in html
    assert f'href="/searches/{search.pk}/"' in html


def test_save_to_a_new_collection_creates_it_and_saves(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    response = owner_client.post(
        "/collections/save/new/", {"search": search.pk, "rank": 1, "name": "Mood"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "Saved to the new “Mood”." in response.content.decode()
    collection = Collection.objects.get()
    assert (collection.user, collection.name) == (owner, "Mood")
    assert collection.items.count() == 1


def test_a_new_collection_without_a_name_is_refused_and_nothing_is_saved(
    owner_client: Client, owner: User
) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    for headers in (HTMX, {}):
        response = owner_client.post(
            "/collections/save/new/", {"search": search.pk, "rank": 1, "name": " "}, headers=headers
        )
        assert response.status_code == 400
        assert "Give the collection a name." in response.content.decode()
    assert not Collection.objects.exists()


def test_a_bad_or_missing_result_reference_is_a_clear_400(
    owner_client: Client, owner: User
) -> None:
    collection = make_collection(owner)
    response = owner_client.post(f"/collections/{collection.pk}/save/", {"search": "x"})
    assert response.status_code == 400
    assert "can't tell which image to save" in response.content.decode()
    assert owner_client.get("/collections/save/").status_code == 400


def test_a_strangers_result_is_404_and_nothing_is_saved(
    owner_client: Client, owner: User, stranger: User
) -> None:
    theirs = make_search(stranger, status="done")
    make_result(theirs, 1)
    collection = make_collection(owner)
    response = owner_client.post(
        f"/collections/{collection.pk}/save/", {"search": theirs.pk, "rank": 1}
    )
    assert response.status_code == 404
    assert (
        owner_client.get("/collections/save/", {"search": theirs.pk, "rank": 1}).status_code == 404
    )
    assert not CollectionItem.objects.exists()


def test_the_search_page_offers_save_and_marks_saved_cards(
    owner_client: Client, owner: User
) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    make_result(search, 2)
    collection = make_collection(owner)
    owner_client.post(f"/collections/{collection.pk}/save/", {"search": search.pk, "rank": 2})
    html = owner_client.get(f"/searches/{search.pk}/").content.decode()
    assert html.count('class="save-toggle"') == 2  # card 1 and the lightbox's
    assert html.count('class="save-toggle is-saved"') == 1
    assert html.count("★ Saved") == 1
    assert f'id="save-menu-{search.pk}-1"' in html
    assert 'id="lightbox-save"' in html
    assert f"/saved-searches/new/?search={search.pk}" in html
    assert f"/searches/{search.pk}/export/?format=zip" in html
