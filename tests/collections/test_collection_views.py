from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from tests.collections.factories import make_collection, make_items
from tests.factories import make_search
from webapp.collections.models import Collection, CollectionItem
from webapp.search.models import Search, Thumbnail


def test_the_index_lists_collections_with_count_and_cover(
    owner_client: Client, owner: User
) -> None:
    lions = make_collection(owner, "Lions")
    first = make_items(lions, 2)[0]
    make_collection(owner, "Empty one")
    html = owner_client.get("/collections/").content.decode()
    assert "Lions" in html and "Empty one" in html
    assert "2 images" in html and "0 images" in html
    assert f'src="/thumbs/{first.thumbnail.url_hash}.jpg"' in html  # type: ignore[union-attr]


def test_the_index_has_an_empty_state(owner_client: Client) -> None:
    assert "No collections yet" in owner_client.get("/collections/").content.decode()


def test_creating_a_collection_opens_it(owner_client: Client, owner: User) -> None:
    response = owner_client.post(
        "/collections/new/", {"name": "  Warm   interiors ", "description": "For the café"}
    )
    collection = Collection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/collections/{collection.pk}/"
    assert (collection.user, collection.name, collection.description) == (
        owner,
        "Warm interiors",
        "For the café",
    )


def test_a_collection_needs_a_name(owner_client: Client) -> None:
    response = owner_client.post("/collections/new/", {"name": "   "})
    assert response.status_code == 400
    assert "Give the collection a name." in response.content.decode()
    assert not Collection.objects.exists()


def test_a_name_over_100_characters_is_refused(owner_client: Client) -> None:
    response = owner_client.post("/collections/new/", {"name": "x" * 101})
    assert response.status_code == 400
    assert "Keep the name to 100 characters (it has 101)." in response.content.decode()
    assert not Collection.objects.exists()


def test_the_page_shows_items_in_order_with_notes_and_provenance(
    owner_client: Client, owner: User
) -> None:
    collection = make_collection(owner, description="Big cats at rest")
    search = make_search(owner, query="lion", status="done")
    first, second = make_items(collection, 2, search=search)
    first.note = "Use for the cover"
    first.save()
    html = owner_client.get(f"/collections/{collection.pk}/").content.decode()
    assert html.index("Result 1") < html.index("Result 2")
    assert 'value="Use for the cover"' in html
    assert "Big cats at rest" in html
    assert f'href="/searches/{search.pk}/">“lion”</a>' in html
    assert f'src="/thumbs/{second.thumbnail.url_hash}.jpg"' in html  # type: ignore[union-attr]
    assert 'id="lightbox"' in html
    for action in ("note", "move", "remove"):
        assert f'action="/collections/{collection.pk}/items/{first.pk}/{action}/"' in html


def test_an_empty_collection_says_how_to_fill_it(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    html = owner_client.get(f"/collections/{collection.pk}/").content.decode()
    assert "This collection is empty" in html


def test_filters_and_sorting_work_as_in_search_results(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    search = make_search(owner, status="done")
    make_items(collection, 1, search=search, title="Wide", real_size=(1600, 900))
    make_items(
        collection,
        1,
        search=search,
        title="Tall",
        real_size=(900, 1600),
        host_page_url="https://b.com/1",
    )
    make_items(collection, 1, search=search, title="Square", real_size=(1000, 980))
    make_items(collection, 1, search=search, title="Huge", real_size=(4000, 3000))
    url = f"/collections/{collection.pk}/"

    def titles(**params: str) -> list[str]:
        html = owner_client.get(url, params).content.decode()
        return [t for t in ("Wide", "Tall", "Square", "Huge") if f">{t}</h3>" in html]

    assert titles(orientation="landscape") == ["Wide", "Huge"]
    assert titles(orientation="portrait") == ["Tall"]
    assert titles(orientation="square") == ["Square"]
    assert titles(min_side="1200") == ["Huge"]
    assert titles(hide_site="b.com") == ["Wide", "Square", "Huge"]
    html = owner_client.get(url, {"sort": "size"}).content.decode()
    assert html.index(">Huge<") < html.index(">Wide<") < html.index(">Tall<")
    assert "Reordering is off" in html


def test_large_collections_page_and_htmx_loads_the_next_page(
    owner_client: Client, owner: User, settings: object
) -> None:
    collection = make_collection(owner)
    make_items(collection, 62)
    url = f"/collections/{collection.pk}/"
    html = owner_client.get(url).content.decode()
    assert html.count('class="card item-card"') == 60
    assert 'id="load-more"' in html and "page=2" in html
    more = owner_client.get(
        url, {"page": "2"}, headers={"HX-Request": "true", "HX-Target": "load-more"}
    )
    body = more.content.decode()
    assert body.count('class="card item-card"') == 2
    assert "Result 61" in body and "<html" not in body
    assert 'id="load-more"' not in body


def test_filtering_with_htmx_returns_only_the_gallery(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    make_items(collection, 1)
    response = owner_client.get(
        f"/collections/{collection.pk}/",
        {"sort": "date"},
        headers={"HX-Request": "true", "HX-Target": "collection-gallery"},
    )
    body = response.content.decode()
    assert 'id="collection-gallery"' in body
    assert "<html" not in body and 'id="share"' not in body


def test_renaming_keeps_the_items(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    make_items(collection, 2)
    response = owner_client.post(
        f"/collections/{collection.pk}/edit/", {"name": "Renamed", "description": "New words"}
    )
    assert response.status_code == 302
    collection.refresh_from_db()
    assert (collection.name, collection.description) == ("Renamed", "New words")
    assert collection.items.count() == 2


def test_renaming_to_nothing_is_refused(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner, "Keep me")
    response = owner_client.post(f"/collections/{collection.pk}/edit/", {"name": ""})
    assert response.status_code == 400
    assert "Give the collection a name." in response.content.decode()
    collection.refresh_from_db()
    assert collection.name == "Keep me"


def test_delete_asks_first_then_deletes_but_keeps_searches_and_thumbnails(
    owner_client: Client, owner: User
) -> None:
    collection = make_collection(owner, "Doomed")
    make_items(collection, 3)
    confirm = owner_client.get(f"/collections/{collection.pk}/delete/")
    assert confirm.status_code == 200
    assert "Delete “Doomed”?" in confirm.content.decode()
    assert "3 saved images" in confirm.content.decode()
    assert Collection.objects.exists()
    response = owner_client.post(f"/collections/{collection.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == "/collections/"
    assert not Collection.objects.exists()
    assert not CollectionItem.objects.exists()
    assert Search.objects.count() == 1
    assert Thumbnail.objects.count() == 3
