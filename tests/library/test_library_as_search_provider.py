"""The library through the normal search flow: form, Search, results, gallery."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.library.conftest import jpeg_bytes, sample_image
from webapp.search.models import Search
from webapp.search.services import search_run


@pytest.fixture
def demo_library(db: None) -> None:
    from django.core.management import call_command

    call_command("library_demo", verbosity=0)


def test_a_text_search_of_the_library_finds_the_cat(
    owner_client: Client, demo_library: None, queued_tasks: list[int]
) -> None:
    owner_client.post("/searches/", {"query": "cat", "provider": "library"})
    search = Search.objects.get()
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "done", search.error_message
    first = search.results.select_related("thumbnail").order_by("rank").first()
    assert first is not None
    assert "cat" in first.title.lower() or "chelsea" in first.title.lower()
    assert first.score is not None and 0 < first.score <= 1
    assert first.thumbnail is not None and first.thumbnail.state == "ready"
    html = owner_client.get(f"/searches/{search.pk}/").content.decode()
    assert "Your library" in html
    assert f'src="/thumbs/{first.thumbnail.url_hash}.jpg"' in html
    assert owner_client.get(f"/thumbs/{first.thumbnail.url_hash}.jpg").status_code == 200


def test_a_chinese_query_finds_the_same_cat(
    owner_client: Client, demo_library: None, queued_tasks: list[int]
) -> None:
    top_urls = []
    for query in ("cat", "猫"):
        owner_client.post("/searches/", {"query": query, "provider": "library"})
        search = Search.objects.latest("pk")
        search_run(search_id=search.pk)
        first = search.results.order_by("rank").first()
        assert first is not None, query
        top_urls.append(first.image_url)
    assert top_urls[0] == top_urls[1]


def test_an_uploaded_copy_of_a_demo_image_finds_it_as_a_near_duplicate(
    owner_client: Client, demo_library: None, queued_tasks: list[int]
) -> None:
    copy = sample_image("rocket.jpg").resize((300, 200))
    upload = SimpleUploadedFile("r.jpg", jpeg_bytes(copy, quality=40), content_type="image/jpeg")
    owner_client.post("/searches/", {"image": upload, "provider": "library"})
    search = Search.objects.get()
    search_run(search_id=search.pk)
    first = Search.objects.get(pk=search.pk).results.order_by("rank").first()
    assert first is not None
    assert first.near_duplicate is True
    assert "rocket" in first.title.lower()
    html = owner_client.get(f"/searches/{search.pk}/").content.decode()
    assert "near-duplicate" in html
    # Beyond its copy, the closest look-alikes are shown too, ranked below it.
    others = list(Search.objects.get(pk=search.pk).results.order_by("rank")[1:])
    assert others
    assert all(not r.near_duplicate and (r.score or 0) <= (first.score or 0) for r in others)


def test_the_library_needs_text_or_an_image(owner_client: Client, queued_tasks: list[int]) -> None:
    response = owner_client.post("/searches/", {"query": "", "provider": "library"})
    assert response.status_code == 400
    assert "Type something" in response.content.decode()
    assert not Search.objects.exists()


def test_with_no_keys_the_form_offers_the_library_first(
    owner_client: Client, settings: Any
) -> None:
    settings.IQS_EMULATED = True
    settings.DASHSCOPE_EMULATED = True
    html = owner_client.get("/").content.decode()
    assert '<option value="library" selected>' in html


def test_search_similar_on_a_library_result_searches_the_library(
    owner_client: Client, demo_library: None, queued_tasks: list[int]
) -> None:
    owner_client.post("/searches/", {"query": "rocket", "provider": "library"})
    first_search = Search.objects.get()
    search_run(search_id=first_search.pk)
    rocket = first_search.results.order_by("rank").first()
    assert rocket is not None
    response = owner_client.post(f"/results/{rocket.pk}/similar/")
    similar = Search.objects.exclude(pk=first_search.pk).get()
    assert response["Location"] == f"/searches/{similar.pk}/"
    assert (similar.provider, bool(similar.query_image)) == ("library", True)
    search_run(search_id=similar.pk)
    top = similar.results.order_by("rank").first()
    assert top is not None
    assert top.image_url == rocket.image_url
