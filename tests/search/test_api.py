from __future__ import annotations

import json

from django.contrib.auth.models import User
from django.test import Client

from tests.factories import make_result, make_search
from webapp.accounts.services import api_token_issue
from webapp.search.models import Search


def _post(client: Client, body: object, **headers: str) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/api/v1/searches", data=json.dumps(body), content_type="application/json", headers=headers
    )
    return response.status_code, response.json()


def test_a_bearer_token_starts_a_search(
    anon_client: Client, owner: User, queued_tasks: list[int]
) -> None:
    token = api_token_issue(user=owner)
    status, body = _post(
        anon_client,
        {"query": "lion", "provider": "iqs", "excludeSites": "a.com,b.com"},
        Authorization=f"Bearer {token}",
    )
    search = Search.objects.get()
    assert status == 202
    assert body == {"id": search.pk, "status": "queued", "url": f"/searches/{search.pk}/"}
    assert (search.user, search.exclude_sites) == (owner, "a.com,b.com")


def test_the_session_works_too(owner_client: Client, queued_tasks: list[int]) -> None:
    status, _ = _post(owner_client, {"query": "狮子"})
    assert status == 202
    assert Search.objects.get().query == "狮子"


def test_invalid_input_gets_a_readable_400_and_nothing_is_queued(
    owner_client: Client, queued_tasks: list[int]
) -> None:
    for body, words in [
        ({"query": ""}, "Type something"),
        ({"query": "x" * 51}, "50 characters"),
        ({"query": "lion", "excludeSites": "??"}, "not a site"),
        ({}, "Type something"),
        ({"imageUrl": "ftp://x"}, "http"),
        ({"provider": "image_search", "query": "cats"}, "Add an image"),
        ({"query": "lion", "provider": "bing"}, "provider"),
    ]:
        status, answer = _post(owner_client, body)
        assert status == 400, body
        assert words in str(answer["detail"]), answer
    assert not Search.objects.exists()
    assert queued_tasks == []


def test_malformed_json_gets_a_400(owner_client: Client) -> None:
    response = owner_client.post(
        "/api/v1/searches", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400


def test_no_credentials_get_401(anon_client: Client) -> None:
    status, body = _post(anon_client, {"query": "lion"})
    assert status == 401
    assert "Bearer" in str(body["detail"])


def test_a_wrong_token_gets_401(anon_client: Client, owner: User) -> None:
    status, _ = _post(anon_client, {"query": "lion"}, Authorization="Bearer lp_nope")
    assert status == 401


def test_get_returns_every_field(owner_client: Client, owner: User) -> None:
    search = make_search(
        owner, status="done", request_id="REQ-1", search_time_ms=808, duration_ms=950
    )
    result = make_result(search, 1, title="Lion", real_size=(720, 1280))
    body = owner_client.get(f"/api/v1/searches/{search.pk}").json()
    assert {
        k: body[k]
        for k in (
            "id",
            "status",
            "query",
            "querySent",
            "provider",
            "error",
            "requestId",
            "searchTime",
            "durationMs",
        )
    } == {
        "id": search.pk,
        "status": "done",
        "query": "lion",
        "querySent": "lion",
        "provider": "iqs",
        "error": None,
        "requestId": "REQ-1",
        "searchTime": 808,
        "durationMs": 950,
    }
    assert body["items"] == [
        {
            "rank": 1,
            "title": "Lion",
            "imageUrl": result.image_url,
            "hostPageUrl": result.host_page_url,
            "publishedTime": "2025-04-12T04:47:00Z",
            "width": 720,
            "height": 1280,
            "thumbnailUrl": f"/thumbs/{result.thumbnail.url_hash}.jpg",  # type: ignore[union-attr]
            "available": True,
        }
    ]


def test_get_reports_errors(owner_client: Client, owner: User) -> None:
    search = make_search(
        owner, status="failed", error_code="Retrieval.Arrears", error_message="Top up."
    )
    body = owner_client.get(f"/api/v1/searches/{search.pk}").json()
    assert body["error"] == {"code": "Retrieval.Arrears", "message": "Top up."}


def test_a_strangers_search_is_404(stranger_client: Client, owner: User) -> None:
    search = make_search(owner)
    assert stranger_client.get(f"/api/v1/searches/{search.pk}").status_code == 404


def test_wrong_method_is_405(owner_client: Client, owner: User) -> None:
    search = make_search(owner)
    assert owner_client.delete(f"/api/v1/searches/{search.pk}").status_code == 405


def test_the_openapi_document_and_docs_page_are_served_offline(owner_client: Client) -> None:
    schema = owner_client.get("/api/v1/openapi.json").json()
    assert "/api/v1/searches" in schema["paths"]
    docs = owner_client.get("/api/v1/docs").content.decode()
    assert "cdn." not in docs
    assert "/static/ninja/" in docs
