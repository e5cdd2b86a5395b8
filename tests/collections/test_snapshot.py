"""Items are snapshots: deleting a search or its results never empties a collection,
and a thumbnail stays while any collection uses it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db.models import ProtectedError
from django.test import Client

from tests.collections.factories import make_collection, make_items
from tests.factories import make_search
from webapp.search.models import Result, Search, Thumbnail
from webapp.search.services import search_delete


def test_deleting_the_search_leaves_the_collection_intact(
    owner_client: Client, owner: User
) -> None:
    collection = make_collection(owner)
    search = make_search(owner, query="lion", status="done")
    before = make_items(collection, 2, search=search, title="Lion at dusk")
    thumbs = [item.thumbnail for item in before]

    response = owner_client.post(f"/searches/{search.pk}/delete/")
    assert response.status_code == 302
    assert not Search.objects.exists() and not Result.objects.exists()

    after = list(collection.items.select_related("thumbnail").order_by("position"))
    assert [(i.title, i.image_url, i.host_page_url) for i in after] == [
        (i.title, i.image_url, i.host_page_url) for i in before
    ]
    assert [i.thumbnail for i in after] == thumbs
    assert all(i.source_search is None and i.source_query == "lion" for i in after)
    assert all(i.source_rank in (1, 2) and i.provider == "iqs" for i in after)
    html = owner_client.get(f"/collections/{collection.pk}/").content.decode()
    assert html.count("Lion at dusk</h3>") == 2
    assert f'src="/thumbs/{thumbs[0].url_hash}.jpg"' in html  # type: ignore[union-attr]
    assert "“lion”" in html  # where it came from, though the search is gone


def test_clearing_all_history_keeps_every_collection(owner: User) -> None:
    collection = make_collection(owner)
    make_items(collection, 3)
    make_items(collection, 2)
    for search in Search.objects.all():
        search_delete(search=search)
    assert collection.items.count() == 5


def test_a_thumbnail_in_use_by_a_collection_cannot_be_deleted(owner: User) -> None:
    collection = make_collection(owner)
    (item,) = make_items(collection, 1)
    Search.objects.all().delete()
    thumbnail = item.thumbnail
    assert thumbnail is not None
    with pytest.raises(ProtectedError):
        Thumbnail.objects.filter(pk=thumbnail.pk).delete()
    assert Thumbnail.objects.filter(pk=thumbnail.pk, state="ready").exists()
