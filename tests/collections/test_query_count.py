"""The collection page costs the same number of queries for 3 items as for 60."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.collections.factories import make_collection, make_items
from webapp.collections.services import collection_share

# session, user, collection, page count, the page's items (with thumbnails),
# the site list for the filter, the share link.
PAGE_QUERIES = 7


@pytest.mark.parametrize("count", [3, 60])
def test_the_collection_page_query_count_is_constant(
    owner_client: Client,
    owner: User,
    count: int,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    collection = make_collection(owner)
    make_items(collection, count, host_page_url="https://a.example/page")
    collection_share(collection=collection)
    with django_assert_num_queries(PAGE_QUERIES):
        response = owner_client.get(f"/collections/{collection.pk}/", {"sort": "size"})
    assert response.content.decode().count('class="card item-card"') == count


@pytest.mark.parametrize("count", [3, 60])
def test_the_shared_page_query_count_is_constant(
    anon_client: Client,
    owner: User,
    count: int,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    collection = make_collection(owner)
    make_items(collection, count)
    link = collection_share(collection=collection)
    # the link with its collection, the page count, the page's items
    with django_assert_num_queries(3):
        response = anon_client.get(f"/shared/{link.token}/")
    assert response.content.decode().count('class="card item-card"') == count


@pytest.mark.parametrize("count", [2, 20])
def test_the_collections_index_query_count_is_constant(
    owner_client: Client,
    owner: User,
    count: int,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    for n in range(count):
        make_items(make_collection(owner, f"C{n}"), 2)
    # session, user, the collections with counts and covers
    with django_assert_num_queries(3):
        response = owner_client.get("/collections/")
    assert response.content.decode().count('class="collection-tile"') == count
