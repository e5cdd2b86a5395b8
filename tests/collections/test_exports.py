"""Export a collection or a search: JSON in the IQS shape, CSV and a ZIP, all streamed."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

from django.contrib.auth.models import User
from django.http import StreamingHttpResponse
from django.test import Client

from tests.collections.factories import make_collection, make_items
from tests.factories import make_result, make_search
from webapp.search.models import Search


def _body(response: Any) -> bytes:
    assert isinstance(response, StreamingHttpResponse)  # never buffered whole
    return b"".join(response.streaming_content)  # type: ignore[arg-type]


def test_json_export_has_iqs_image_items_plus_notes_and_provenance(
    owner_client: Client, owner: User
) -> None:
    collection = make_collection(owner, "Lions", description="Big cats")
    search = make_search(owner, query="lion", status="done")
    first, _ = make_items(collection, 2, search=search, real_size=(720, 1280))
    first.note = "cover"
    first.save()
    response = owner_client.get(f"/collections/{collection.pk}/export/", {"format": "json"})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="lions.json"'
    document = json.loads(_body(response))
    assert document["format"] == "loupe.collection"
    assert document["collection"] == {"name": "Lions", "description": "Big cats"}
    assert len(document["imageItems"]) == 2
    assert document["imageItems"][0] == {
        "title": "Result 1",
        "hostPageUrl": "https://news.example.com/story/1",
        "imageUrl": first.image_url,
        "publishedTime": "2025-04-12T04:47:00+00:00",
        "width": 720,
        "height": 1280,
        "note": "cover",
        "provenance": {
            "provider": "iqs",
            "searchId": search.pk,
            "query": "lion",
            "rank": 1,
            "savedAt": first.saved_at.isoformat(),
        },
    }


def test_csv_export_has_a_row_per_image_and_defuses_formulas(
    owner_client: Client, owner: User
) -> None:
    collection = make_collection(owner)
    make_items(collection, 1, title='=HYPERLINK("http://evil")')
    make_items(collection, 1, title="Plain, with a comma")
    response = owner_client.get(f"/collections/{collection.pk}/export/", {"format": "csv"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(_body(response).decode("utf-8-sig"))))
    assert [r["title"] for r in rows] == ['\'=HYPERLINK("http://evil")', "Plain, with a comma"]
    assert rows[0]["width"] == "640" and rows[0]["provider"] == "iqs"
    assert rows[0]["imageUrl"].startswith("https://img.example.com/")


def test_zip_export_holds_a_manifest_and_every_thumbnail(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    make_items(collection, 3)
    make_items(collection, 1, thumb_state="unavailable")
    response = owner_client.get(f"/collections/{collection.pk}/export/", {"format": "zip"})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(_body(response)))
    assert archive.testzip() is None
    assert archive.namelist() == [
        "manifest.json",
        "thumbnails/0001.jpg",
        "thumbnails/0002.jpg",
        "thumbnails/0003.jpg",
    ]
    manifest = json.loads(archive.read("manifest.json"))
    files = [item["thumbnailFile"] for item in manifest["imageItems"]]
    assert files == ["thumbnails/0001.jpg", "thumbnails/0002.jpg", "thumbnails/0003.jpg", None]
    assert archive.read("thumbnails/0002.jpg")[:2] == b"\xff\xd8"


def test_an_empty_collection_exports_cleanly(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    url = f"/collections/{collection.pk}/export/"
    assert json.loads(_body(owner_client.get(url, {"format": "json"})))["imageItems"] == []
    archive = zipfile.ZipFile(io.BytesIO(_body(owner_client.get(url, {"format": "zip"}))))
    assert archive.namelist() == ["manifest.json"]


def test_an_unknown_format_is_a_clear_400(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    for params in ({"format": "xml"}, {}):
        response = owner_client.get(f"/collections/{collection.pk}/export/", params)
        assert response.status_code == 400
        assert "Choose an export format: json, csv or zip." in response.content.decode()


def test_a_search_exports_its_results(owner_client: Client, owner: User) -> None:
    search = make_search(owner, query="狮子", status="done")
    make_result(search, 1, title="狮子一生")
    make_result(search, 2)
    response = owner_client.get(f"/searches/{search.pk}/export/", {"format": "json"})
    document = json.loads(_body(response))
    assert document["source"] == "search"
    assert document["collection"]["name"] == "Search: 狮子"
    assert [i["title"] for i in document["imageItems"]] == ["狮子一生", "Result 2"]
    assert document["imageItems"][0]["provenance"]["rank"] == 1
    zipped = owner_client.get(f"/searches/{search.pk}/export/", {"format": "zip"})
    assert len(zipfile.ZipFile(io.BytesIO(_body(zipped))).namelist()) == 3


def test_a_strangers_search_cannot_be_exported(stranger_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    assert stranger_client.get(f"/searches/{search.pk}/export/?format=json").status_code == 404
    assert Search.objects.count() == 1
