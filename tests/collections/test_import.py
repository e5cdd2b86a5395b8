"""Import a JSON export into a new collection: all of it, in order, or nothing at all."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError
from django.test import Client

from tests.collections.factories import make_collection, make_items
from tests.factories import make_search
from webapp.collections.imports import IMPORT_MAX_BYTES
from webapp.collections.models import Collection, CollectionItem


def _export(client: Client, collection_id: int) -> dict[str, Any]:
    response = client.get(f"/collections/{collection_id}/export/", {"format": "json"})
    return json.loads(b"".join(response.streaming_content))  # type: ignore[attr-defined]


def _upload(client: Client, data: bytes, **fields: str) -> Any:
    upload = SimpleUploadedFile("export.json", data, content_type="application/json")
    return client.post("/collections/import/", {"file": upload, **fields})


def _item(**fields: Any) -> dict[str, Any]:
    item = {"title": "A lion", "imageUrl": "https://img.example.com/a.jpg"}
    item.update(fields)
    return item


def test_the_import_page_explains_itself(owner_client: Client) -> None:
    html = owner_client.get("/collections/import/").content.decode()
    assert "nothing is imported" in html and 'type="file"' in html


def test_an_export_and_import_round_trip_loses_nothing(
    owner_client: Client, owner: User, thumbnail_tasks: list[int]
) -> None:
    original = make_collection(owner, "Lions", description="Big cats")
    search = make_search(owner, query="lion", status="done")
    items = make_items(original, 3, search=search)
    items[1].note = "the best one"
    items[1].save()
    owner_client.post(f"/collections/{original.pk}/items/{items[2].pk}/move/", {"direction": "up"})
    exported = _export(owner_client, original.pk)

    response = _upload(owner_client, json.dumps(exported).encode())
    copy = Collection.objects.exclude(pk=original.pk).get()
    assert response.status_code == 302
    assert response["Location"] == f"/collections/{copy.pk}/"
    assert (copy.name, copy.description, copy.user) == ("Lions", "Big cats", owner)
    again = _export(owner_client, copy.pk)
    assert again["imageItems"] == exported["imageItems"]  # order, notes and provenance too
    # The thumbnails already exist (same image URLs), so there is nothing to fetch.
    assert thumbnail_tasks == []
    assert CollectionItem.objects.filter(collection=copy, source_search=search).count() == 3


def test_a_new_image_gets_its_thumbnail_fetched_after_commit(
    owner_client: Client, thumbnail_tasks: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    document = {"collection": {"name": "From elsewhere"}, "imageItems": [_item()]}
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(owner_client, json.dumps(document).encode(), name="Renamed")
    collection = Collection.objects.get()
    assert response.status_code == 302
    assert collection.name == "Renamed"
    item = CollectionItem.objects.get()
    assert item.thumbnail is not None and item.thumbnail.state == "pending"
    assert (item.provider, item.source_search) == ("", None)
    assert thumbnail_tasks == [collection.pk]


def test_an_iqs_response_imports_too(owner_client: Client, thumbnail_tasks: list[int]) -> None:
    iqs = {
        "requestId": "35E5608A",
        "imageItems": [
            {
                "title": "狮子一生征战沙场",
                "publishedTime": "2025-04-12T12:47:54+08:00",
                "imageUrl": "http://pic.rmb.bdstatic.com/bjh/cb5ab496.jpeg?for=bg",
                "hostPageUrl": "https://quanmin.baidu.com/sv?vid=4798422598618199036",
                "height": 1280,
                "width": 720,
            }
        ],
    }
    assert _upload(owner_client, json.dumps(iqs).encode()).status_code == 302
    item = CollectionItem.objects.get()
    assert (item.title, item.width, item.height) == ("狮子一生征战沙场", 720, 1280)
    assert item.published_time is not None and item.published_time.isoformat() == (
        "2025-04-12T04:47:54+00:00"
    )
    assert Collection.objects.get().name == "Imported collection"


def test_duplicate_images_in_a_file_are_kept_once(
    owner_client: Client, thumbnail_tasks: list[int]
) -> None:
    document = {"imageItems": [_item(), _item(title="again")]}
    assert _upload(owner_client, json.dumps(document).encode()).status_code == 302
    assert CollectionItem.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"{not json", "not valid JSON (line 1, column 2)"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"   ", "The file is empty."),
        (b"[1, 2]", "no “imageItems” list"),
        (json.dumps({"imageItems": "nope"}).encode(), "no “imageItems” list"),
        (json.dumps({"imageItems": [_item(), 7]}).encode(), "Item 2: each item must be an object"),
        (json.dumps({"imageItems": [{"title": "x"}]}).encode(), "Item 1: imageUrl is missing."),
        (
            json.dumps({"imageItems": [_item(imageUrl="javascript:alert(1)")]}).encode(),
            "Item 1: imageUrl must be an http or https address",
        ),
        (
            json.dumps({"imageItems": [_item(hostPageUrl="data:text/html,x")]}).encode(),
            "Item 1: hostPageUrl must be an http or https address",
        ),
        (
            json.dumps({"imageItems": [_item(width=-3)]}).encode(),
            "Item 1: width must be a whole number from 1 to 100000.",
        ),
        (
            json.dumps({"imageItems": [_item(publishedTime="yesterday")]}).encode(),
            "Item 1: publishedTime “yesterday” is not an ISO 8601 date and time.",
        ),
        (
            json.dumps({"imageItems": [_item(note="n" * 281)]}).encode(),
            "Item 1: note is longer than 280 characters.",
        ),
        (
            json.dumps({"collection": {"name": 5}, "imageItems": []}).encode(),
            "Collection: name must be text.",
        ),
        (b"[" * 100_000, "nests too deeply"),
    ],
)
def test_a_malformed_file_gets_a_clear_error_and_imports_nothing(
    owner_client: Client, thumbnail_tasks: list[int], data: bytes, words: str
) -> None:
    response = _upload(owner_client, data)
    assert response.status_code == 400
    assert words in response.content.decode()
    assert not Collection.objects.exists()
    assert not CollectionItem.objects.exists()


def test_errors_name_each_bad_item_and_stop_after_five(owner_client: Client) -> None:
    document = {"imageItems": [{"title": "x"}] * 9}
    html = _upload(owner_client, json.dumps(document).encode()).content.decode()
    assert "Item 5: imageUrl is missing." in html
    assert "Item 6" not in html
    assert "(more errors not shown)" in html


def test_an_oversized_file_is_refused(owner_client: Client) -> None:
    padding = " " * (IMPORT_MAX_BYTES + 1)
    response = _upload(owner_client, ('{"imageItems": []}' + padding).encode())
    assert response.status_code == 400
    assert "larger than 5 MB" in response.content.decode()
    assert not Collection.objects.exists()


def test_too_many_items_are_refused(owner_client: Client, settings: Any) -> None:
    document = {"imageItems": [_item(imageUrl=f"https://a.example/{n}.jpg") for n in range(5001)]}
    response = _upload(owner_client, json.dumps(document).encode())
    assert response.status_code == 400
    assert "5001 items; at most 5000" in response.content.decode()
    assert not CollectionItem.objects.exists()


def test_a_failure_while_writing_leaves_nothing_behind(
    owner_client: Client, monkeypatch: pytest.MonkeyPatch, thumbnail_tasks: list[int]
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(CollectionItem.objects, "bulk_create", fail)
    document = {"imageItems": [_item()]}
    with pytest.raises(DatabaseError):
        _upload(owner_client, json.dumps(document).encode())
    assert not Collection.objects.exists()
    assert thumbnail_tasks == []


def test_a_missing_file_is_a_form_error(owner_client: Client) -> None:
    response = owner_client.post("/collections/import/", {})
    assert response.status_code == 400
    assert "Choose a JSON export file to import." in response.content.decode()
    assert not Collection.objects.exists()


def test_provenance_links_only_to_the_importers_own_searches(
    owner_client: Client, stranger: User, thumbnail_tasks: list[int]
) -> None:
    theirs = make_search(stranger, status="done")
    document = {"imageItems": [_item(provenance={"searchId": theirs.pk, "query": "lion"})]}
    _upload(owner_client, json.dumps(document).encode())
    item = CollectionItem.objects.get()
    assert item.source_search is None
    assert item.source_query == "lion"
