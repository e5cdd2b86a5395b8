"""/api/v1/collections: owner only (404 for anyone else), 401 without credentials."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.collections.factories import make_collection, make_items
from tests.factories import make_result, make_search
from webapp.accounts.services import api_token_issue
from webapp.collections.models import Collection, CollectionItem, ShareLink


def _post(client: Client, url: str, body: object, **headers: str) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def test_create_returns_the_id(owner_client: Client, owner: User) -> None:
    response = _post(owner_client, "/api/v1/collections", {"name": "Lions", "description": "d"})
    collection = Collection.objects.get()
    assert response.status_code == 201
    assert response.json() == {"id": collection.pk}
    assert (collection.user, collection.name, collection.description) == (owner, "Lions", "d")


def test_a_bearer_token_works_too(anon_client: Client, owner: User) -> None:
    token = api_token_issue(user=owner)
    response = _post(
        anon_client, "/api/v1/collections", {"name": "Lions"}, Authorization=f"Bearer {token}"
    )
    assert response.status_code == 201
    assert Collection.objects.get().user == owner


def test_create_refuses_a_bad_name_with_a_sentence(owner_client: Client) -> None:
    for body, words in [({"name": " "}, "Give the collection a name."), ({}, "name")]:
        response = _post(owner_client, "/api/v1/collections", body)
        assert response.status_code == 400
        assert words in response.json()["detail"]
    assert not Collection.objects.exists()


def test_list_shows_counts_and_covers(owner_client: Client, owner: User, stranger: User) -> None:
    collection = make_collection(owner)
    (item,) = make_items(collection, 1)
    make_collection(stranger, "Not mine")
    body = owner_client.get("/api/v1/collections").json()
    assert [(c["id"], c["name"], c["itemCount"]) for c in body] == [(collection.pk, "Lions", 1)]
    assert body[0]["coverUrl"] == f"/thumbs/{item.thumbnail.url_hash}.jpg"  # type: ignore[union-attr]
    assert body[0]["url"] == f"/collections/{collection.pk}/"


def test_get_returns_the_collection_with_its_items(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    search = make_search(owner, query="lion", status="done")
    first, _ = make_items(collection, 2, search=search)
    first.note = "cover"
    first.save()
    body = owner_client.get(f"/api/v1/collections/{collection.pk}").json()
    assert body["name"] == "Lions" and body["share"] is None
    assert [i["id"] for i in body["items"]] == list(
        collection.items.order_by("position").values_list("pk", flat=True)
    )
    assert body["items"][0] | {"provenance": None} == {
        "id": first.pk,
        "position": 0,
        "title": "Result 1",
        "imageUrl": first.image_url,
        "hostPageUrl": "https://news.example.com/story/1",
        "publishedTime": "2025-04-12T04:47:00Z",
        "width": 640,
        "height": 480,
        "note": "cover",
        "thumbnailUrl": f"/thumbs/{first.thumbnail.url_hash}.jpg",  # type: ignore[union-attr]
        "provenance": None,
    }
    assert body["items"][0]["provenance"]["searchId"] == search.pk
    assert body["items"][0]["provenance"]["query"] == "lion"


def test_add_a_result_by_search_and_rank(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    search = make_search(owner, status="done")
    make_result(search, 4, title="Fourth")
    url = f"/api/v1/collections/{collection.pk}/items"
    response = _post(owner_client, url, {"searchId": search.pk, "rank": 4})
    item = CollectionItem.objects.get()
    assert response.status_code == 201
    assert response.json() == {"id": item.pk, "created": True}
    assert (item.title, item.source_rank) == ("Fourth", 4)
    again = _post(owner_client, url, {"searchId": search.pk, "rank": 4})
    assert again.status_code == 200
    assert again.json() == {"id": item.pk, "created": False}
    assert CollectionItem.objects.count() == 1


def test_add_an_image_by_its_fields(
    owner_client: Client, owner: User, thumbnail_tasks: list[int]
) -> None:
    collection = make_collection(owner)
    response = _post(
        owner_client,
        f"/api/v1/collections/{collection.pk}/items",
        {
            "imageUrl": "https://img.example.com/x.jpg",
            "title": "By hand",
            "hostPageUrl": "https://example.com/page",
            "publishedTime": "2024-12-18T22:24:24+08:00",
            "width": 1000,
            "height": 1330,
            "note": "keep",
        },
    )
    assert response.status_code == 201
    item = CollectionItem.objects.get()
    assert (item.title, item.width, item.height, item.note, item.site) == (
        "By hand",
        1000,
        1330,
        "keep",
        "example.com",
    )


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"searchId": 1}, "Send both searchId and rank"),
        ({"searchId": 999, "rank": 1}, "Your search 999 has no result #1."),
        ({"title": "no url"}, "Send searchId and rank, or an imageUrl."),
        ({"imageUrl": "javascript:alert(1)"}, "imageUrl must be an http or https address"),
        (
            {"imageUrl": "https://a.com/x.jpg", "hostPageUrl": "ftp://a.com"},
            "hostPageUrl must be an http or https address",
        ),
        ({"imageUrl": "https://a.com/x.jpg", "width": 0}, "width"),
        ({"imageUrl": "https://a.com/x.jpg", "note": "n" * 281}, "note"),
    ],
)
def test_add_refuses_bad_input_with_a_sentence(
    owner_client: Client, owner: User, body: dict[str, Any], words: str
) -> None:
    collection = make_collection(owner)
    response = _post(owner_client, f"/api/v1/collections/{collection.pk}/items", body)
    assert response.status_code == 400
    assert words in response.json()["detail"]
    assert not CollectionItem.objects.exists()


def test_add_cannot_reach_a_strangers_result(
    owner_client: Client, owner: User, stranger: User
) -> None:
    collection = make_collection(owner)
    theirs = make_search(stranger, status="done")
    make_result(theirs, 1)
    response = _post(
        owner_client,
        f"/api/v1/collections/{collection.pk}/items",
        {"searchId": theirs.pk, "rank": 1},
    )
    assert response.status_code == 400
    assert not CollectionItem.objects.exists()


def test_delete_an_item(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    a, b = make_items(collection, 2)
    response = owner_client.delete(f"/api/v1/collections/{collection.pk}/items/{a.pk}")
    assert response.status_code == 204
    assert list(CollectionItem.objects.values_list("pk", flat=True)) == [b.pk]
    again = owner_client.delete(f"/api/v1/collections/{collection.pk}/items/{a.pk}")
    assert again.status_code == 404


def test_share_returns_the_url_and_delete_revokes_it(
    owner_client: Client, anon_client: Client, owner: User
) -> None:
    collection = make_collection(owner)
    make_items(collection, 1)
    response = _post(owner_client, f"/api/v1/collections/{collection.pk}/share", {})
    assert response.status_code == 200
    url = response.json()["url"]
    link = ShareLink.objects.get()
    assert url == f"http://testserver/shared/{link.token}/"
    assert response.json()["expiresAt"] is None
    assert anon_client.get(url).status_code == 200
    same = _post(
        owner_client,
        f"/api/v1/collections/{collection.pk}/share",
        {"expiresAt": "2999-01-01T00:00:00Z"},
    )
    assert same.json()["url"] == url and same.json()["expiresAt"] == "2999-01-01T00:00:00Z"
    assert owner_client.get(f"/api/v1/collections/{collection.pk}").json()["share"]["url"] == url
    revoked = owner_client.delete(f"/api/v1/collections/{collection.pk}/share")
    assert revoked.status_code == 204
    assert anon_client.get(url).status_code == 404
    assert owner_client.get(f"/api/v1/collections/{collection.pk}").json()["share"] is None


def test_share_needs_no_body(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    # As `curl -X POST …/share` sends it: no body at all.
    response = owner_client.post(
        f"/api/v1/collections/{collection.pk}/share", content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["url"].endswith(f"/shared/{ShareLink.objects.get().token}/")


def test_share_refuses_an_expiry_in_the_past(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    response = _post(
        owner_client,
        f"/api/v1/collections/{collection.pk}/share",
        {"expiresAt": "2000-01-01T00:00:00Z"},
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "The expiry must be in the future."
    assert response.json()["errors"] == {"expiresAt": ["The expiry must be in the future."]}
    assert not ShareLink.objects.exists()


def test_export_in_each_format(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    make_items(collection, 2)
    url = f"/api/v1/collections/{collection.pk}/export"

    def body(fmt: str) -> bytes:
        response = owner_client.get(url, {"format": fmt})
        assert response.status_code == 200
        return b"".join(response.streaming_content)  # type: ignore[attr-defined]

    assert len(json.loads(body("json"))["imageItems"]) == 2
    assert body("csv").decode("utf-8-sig").count("\n") == 3
    assert len(zipfile.ZipFile(io.BytesIO(body("zip"))).namelist()) == 3
    bad = owner_client.get(url, {"format": "xml"})
    assert bad.status_code == 400
    assert "format" in bad.json()["detail"]


@pytest.fixture
def api_urls(owner: User) -> dict[str, tuple[str, str]]:
    collection = make_collection(owner)
    (item,) = make_items(collection, 1)
    c = collection.pk
    return {
        "get": ("get", f"/api/v1/collections/{c}"),
        "add": ("post", f"/api/v1/collections/{c}/items"),
        "remove": ("delete", f"/api/v1/collections/{c}/items/{item.pk}"),
        "share": ("post", f"/api/v1/collections/{c}/share"),
        "unshare": ("delete", f"/api/v1/collections/{c}/share"),
        "export": ("get", f"/api/v1/collections/{c}/export?format=json"),
    }


@pytest.mark.parametrize("name", ["get", "add", "remove", "share", "unshare", "export"])
def test_everyone_but_the_owner_gets_404(
    stranger_client: Client, api_urls: dict[str, tuple[str, str]], name: str
) -> None:
    method, url = api_urls[name]
    if method == "get":
        response = stranger_client.get(url)
    else:
        body = json.dumps({"imageUrl": "https://a.com/x.jpg"})
        response = getattr(stranger_client, method)(url, data=body, content_type="application/json")
    assert response.status_code == 404
    assert CollectionItem.objects.count() == 1
    assert not ShareLink.objects.exists()


@pytest.mark.parametrize("name", ["get", "add", "remove", "share", "unshare", "export"])
def test_no_credentials_get_401(
    anon_client: Client, api_urls: dict[str, tuple[str, str]], name: str
) -> None:
    method, url = api_urls[name]
    assert getattr(anon_client, method)(url).status_code == 401
    assert anon_client.get("/api/v1/collections").status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/v1/collections"),
        ("patch", "/api/v1/collections/{c}"),
        ("get", "/api/v1/collections/{c}/items"),
        ("get", "/api/v1/collections/{c}/items/{i}"),
        ("get", "/api/v1/collections/{c}/share"),
        ("post", "/api/v1/collections/{c}/export"),
    ],
)
def test_wrong_methods_get_405(owner_client: Client, owner: User, method: str, path: str) -> None:
    collection = make_collection(owner)
    (item,) = make_items(collection, 1)
    url = path.format(c=collection.pk, i=item.pk)
    assert getattr(owner_client, method)(url).status_code == 405


def test_the_endpoints_are_in_the_openapi_document(owner_client: Client) -> None:
    paths = owner_client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/collections",
        "/api/v1/collections/{collection_id}",
        "/api/v1/collections/{collection_id}/items",
        "/api/v1/collections/{collection_id}/items/{item_id}",
        "/api/v1/collections/{collection_id}/share",
        "/api/v1/collections/{collection_id}/export",
    ):
        assert path in paths, path
