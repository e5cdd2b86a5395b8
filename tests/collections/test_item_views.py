from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from tests.collections.factories import make_collection, make_items, order_of
from webapp.collections.models import CollectionItem

HTMX = {"HX-Request": "true"}


def test_a_note_is_saved_with_htmx_and_the_form_comes_back(
    owner_client: Client, owner: User
) -> None:
    collection = make_collection(owner)
    item = make_items(collection, 1)[0]
    response = owner_client.post(
        f"/collections/{collection.pk}/items/{item.pk}/note/",
        {"note": "  warm   light,  left side "},
        headers=HTMX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'value="warm light, left side"' in body and "Saved" in body
    assert "<html" not in body
    item.refresh_from_db()
    assert item.note == "warm light, left side"


def test_a_note_without_javascript_redirects_back_to_the_item(
    owner_client: Client, owner: User
) -> None:
    collection = make_collection(owner)
    item = make_items(collection, 1)[0]
    response = owner_client.post(
        f"/collections/{collection.pk}/items/{item.pk}/note/", {"note": "ok"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/collections/{collection.pk}/#item-{item.pk}"
    item.refresh_from_db()
    assert item.note == "ok"


def test_a_note_over_280_characters_is_refused_and_nothing_changes(
    owner_client: Client, owner: User
) -> None:
    collection = make_collection(owner)
    item = make_items(collection, 1)[0]
    url = f"/collections/{collection.pk}/items/{item.pk}/note/"
    for headers in (HTMX, {}):
        response = owner_client.post(url, {"note": "n" * 281}, headers=headers)
        assert response.status_code == 400
        assert "Keep the note to 280 characters (it has 281)." in response.content.decode()
    item.refresh_from_db()
    assert item.note == ""


def test_move_up_and_down_swap_neighbours(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    a, b, c = make_items(collection, 3)
    url = f"/collections/{collection.pk}/items/{c.pk}/move/"
    response = owner_client.post(url, {"direction": "up"}, headers=HTMX)
    assert response.status_code == 200
    assert response.content.decode() == "Moved to place 2."
    assert order_of(collection) == [a.pk, c.pk, b.pk]
    owner_client.post(f"/collections/{collection.pk}/items/{a.pk}/move/", {"direction": "down"})
    assert order_of(collection) == [c.pk, a.pk, b.pk]


def test_moving_the_first_item_up_changes_nothing(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    a, b = make_items(collection, 2)
    owner_client.post(f"/collections/{collection.pk}/items/{a.pk}/move/", {"direction": "up"})
    assert order_of(collection) == [a.pk, b.pk]


def test_a_drop_moves_an_item_to_a_place(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    a, b, c, d = make_items(collection, 4)
    response = owner_client.post(
        f"/collections/{collection.pk}/items/{a.pk}/move/", {"to": "2"}, headers=HTMX
    )
    assert response.content.decode() == "Moved to place 3."
    assert order_of(collection) == [b.pk, c.pk, a.pk, d.pk]


def test_without_javascript_a_move_returns_to_the_items_page(
    owner_client: Client, owner: User
) -> None:
    collection = make_collection(owner)
    items = make_items(collection, 62)
    last = items[-1]
    response = owner_client.post(
        f"/collections/{collection.pk}/items/{last.pk}/move/", {"direction": "up"}
    )
    assert response["Location"] == f"/collections/{collection.pk}/?page=2#item-{last.pk}"


def test_a_move_without_a_place_is_refused(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    a, b = make_items(collection, 2)
    url = f"/collections/{collection.pk}/items/{a.pk}/move/"
    for data in ({}, {"direction": "sideways"}, {"to": "-1"}):
        response = owner_client.post(url, data)
        assert response.status_code == 400, data
    assert "Say where to move the item" in owner_client.post(url, {}).content.decode()
    assert order_of(collection) == [a.pk, b.pk]


def test_remove_with_htmx_swaps_the_card_out(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    a, b = make_items(collection, 2)
    response = owner_client.post(f"/collections/{collection.pk}/items/{a.pk}/remove/", headers=HTMX)
    assert response.status_code == 200
    assert response.content == b""
    assert list(CollectionItem.objects.values_list("pk", flat=True)) == [b.pk]


def test_remove_without_javascript_goes_back(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    (a,) = make_items(collection, 1)
    response = owner_client.post(f"/collections/{collection.pk}/items/{a.pk}/remove/")
    assert response["Location"] == f"/collections/{collection.pk}/"
    assert not CollectionItem.objects.exists()


def test_an_item_of_another_collection_is_404_even_for_its_owner(
    owner_client: Client, owner: User
) -> None:
    one, other = make_collection(owner, "One"), make_collection(owner, "Other")
    (item,) = make_items(one, 1)
    response = owner_client.post(f"/collections/{other.pk}/items/{item.pk}/remove/")
    assert response.status_code == 404
    assert CollectionItem.objects.filter(pk=item.pk).exists()
