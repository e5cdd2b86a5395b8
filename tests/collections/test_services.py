"""Collection services: dedup enforced by the database, and reordering."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tests.collections.factories import make_collection, make_items, order_of
from tests.factories import make_result, make_search
from webapp.collections.models import CollectionItem
from webapp.collections.services import (
    ItemFields,
    collection_add_image,
    collection_add_result,
    collection_item_move,
    collection_item_remove,
    collection_item_step,
)


def test_the_database_refuses_a_second_copy_of_an_image(owner: User) -> None:
    collection = make_collection(owner)
    (item,) = make_items(collection, 1)
    duplicate = CollectionItem(
        collection=collection,
        position=5,
        image_url_hash=item.image_url_hash,
        image_url=item.image_url,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    assert collection.items.count() == 1


def test_adding_the_same_result_twice_returns_the_first_item(owner: User) -> None:
    collection = make_collection(owner)
    result = make_result(make_search(owner, status="done"), 1)
    first, created = collection_add_result(collection=collection, result=result)
    again, created_again = collection_add_result(collection=collection, result=result)
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk


def test_the_same_image_from_another_search_is_the_same_item(owner: User) -> None:
    collection = make_collection(owner)
    url = "https://img.example.com/shared.jpg"
    one = make_result(make_search(owner, status="done"), 1, image_url=url)
    search_two = make_search(owner, status="done")
    two = collection_add_result(collection=collection, result=one)[0]
    from webapp.search.models import Result

    other = Result.objects.create(
        search=search_two, rank=1, image_url=url, thumbnail=one.thumbnail, title="Same picture"
    )
    again, created = collection_add_result(collection=collection, result=other)
    assert (again.pk, created) == (two.pk, False)


def test_new_items_go_last(owner: User) -> None:
    collection = make_collection(owner)
    items = make_items(collection, 3)
    assert order_of(collection) == [i.pk for i in items]
    assert [i.position for i in items] == [0, 1, 2]


def test_moves_close_gaps_left_by_removals(owner: User) -> None:
    collection = make_collection(owner)
    a, b, c, d = make_items(collection, 4)
    collection_item_remove(item=b)
    assert collection_item_move(item=d, to_index=0) == 0
    assert order_of(collection) == [d.pk, a.pk, c.pk]
    positions = list(collection.items.order_by("position").values_list("position", flat=True))
    assert positions == [0, 1, 2]


def test_a_place_out_of_range_is_clamped(owner: User) -> None:
    collection = make_collection(owner)
    a, b, c = make_items(collection, 3)
    assert collection_item_move(item=a, to_index=99) == 2
    assert order_of(collection) == [b.pk, c.pk, a.pk]
    assert collection_item_step(item=CollectionItem.objects.get(pk=a.pk), direction="down") == 2


def test_a_step_must_be_up_or_down(owner: User) -> None:
    collection = make_collection(owner)
    (a,) = make_items(collection, 1)
    with pytest.raises(ValidationError, match="“up” or “down”"):
        collection_item_step(item=a, direction="left")


def test_an_image_added_by_hand_is_fetched_by_the_worker(
    owner: User, thumbnail_tasks: list[int], django_capture_on_commit_callbacks: object
) -> None:
    collection = make_collection(owner)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        item, created = collection_add_image(
            collection=collection,
            fields=ItemFields(image_url="https://img.example.com/new.jpg", title="By hand"),
        )
    assert created and item.thumbnail is not None and item.thumbnail.state == "pending"
    assert thumbnail_tasks == [collection.pk]
