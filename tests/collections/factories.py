"""Collection rows for tests, built on tests/factories.py's searches and results."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from tests.factories import make_result, make_search
from webapp.collections.models import Collection, CollectionItem
from webapp.collections.services import collection_add_result
from webapp.search.models import Search


def make_collection(user: User, name: str = "Lions", **fields: Any) -> Collection:
    return Collection.objects.create(user=user, name=name, **fields)


def make_items(
    collection: Collection, count: int, *, search: Search | None = None, **result_fields: Any
) -> list[CollectionItem]:
    """``count`` items saved from real results (each with a ready thumbnail file)."""
    search = search or make_search(collection.user, status="done")
    first = search.results.count() + 1
    items = []
    for rank in range(first, first + count):
        result = make_result(search, rank, **result_fields)
        item, _ = collection_add_result(collection=collection, result=result)
        items.append(item)
    return items


def order_of(collection: Collection) -> list[int]:
    """Item ids in the collection's order."""
    return list(collection.items.order_by("position", "pk").values_list("pk", flat=True))
