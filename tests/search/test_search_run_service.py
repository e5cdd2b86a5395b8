"""search_run end to end: the real IQS client, over a socket, against the emulator,
then real thumbnails fetched through the SSRF-safe fetcher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.factories import make_search
from webapp.search.models import Search, Thumbnail
from webapp.search.services import search_run

DOC_LION = json.loads(
    (Path(__file__).resolve().parents[2] / "webapp/emulator/fixtures/iqs_lion.json").read_text()
)


@pytest.fixture
def on_emulator(settings: Any, emulator: Any) -> Any:
    settings.IQS_EFFECTIVE_BASE_URL = emulator.url
    settings.IQS_API_KEY = "secret-test-key"
    settings.FETCH_PRIVATE_ALLOWLIST = frozenset({("127.0.0.1", emulator.port)})
    return emulator


def _doc_items() -> list[dict[str, Any]]:
    items = DOC_LION["imageItems"] if isinstance(DOC_LION, dict) else DOC_LION
    return list(items)


@pytest.mark.django_db
def test_a_lion_search_stores_the_servers_answer(owner: User, on_emulator: Any) -> None:
    search = make_search(owner, query="lion", query_sent="lion")
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "done", search.error_message
    results = list(search.results.select_related("thumbnail").order_by("rank"))
    expected = _doc_items()
    assert [r.title for r in results] == [item["title"] for item in expected]
    assert [r.host_page_url for r in results] == [item["hostPageUrl"] for item in expected]
    assert [(r.width, r.height) for r in results] == [(i["width"], i["height"]) for i in expected]
    assert search.request_id
    assert search.search_time_ms is not None
    assert search.duration_ms is not None and search.duration_ms >= 0
    assert search.provider_ms is not None
    assert search.results_at is not None


@pytest.mark.django_db
def test_thumbnails_record_the_real_pixel_size(
    owner: User, on_emulator: Any, settings: Any
) -> None:
    search = make_search(owner, query="lion", query_sent="lion")
    search_run(search_id=search.pk)
    for result in Search.objects.get(pk=search.pk).results.select_related("thumbnail"):
        thumb = result.thumbnail
        assert thumb is not None and thumb.state == "ready", thumb and thumb.error_message
        assert (thumb.width, thumb.height) == (result.width, result.height)
        assert max(thumb.thumb_width or 0, thumb.thumb_height or 0) <= 320
        assert (Path(settings.MEDIA_ROOT) / thumb.file).read_bytes()[:2] == b"\xff\xd8"


@pytest.mark.django_db
def test_a_chinese_query_works_like_an_english_one(owner: User, on_emulator: Any) -> None:
    search = make_search(owner, query="狮子", query_sent="狮子")
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "done"
    assert search.result_count == 20
    assert "狮子" in search.results.get(rank=1).title
    body = (
        on_emulator.requests[-1]
        if on_emulator.requests[-1].path == "/search/multimodal"
        else next(r for r in reversed(on_emulator.requests) if r.path == "/search/multimodal")
    )
    assert body.json["query"] == "狮子"


@pytest.mark.django_db
def test_the_raw_response_is_kept_without_the_key(owner: User, on_emulator: Any) -> None:
    search = make_search(owner, query="lion", query_sent="lion")
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.raw_response is not None
    assert search.raw_response["requestId"] == search.request_id
    assert "secret-test-key" not in json.dumps(search.raw_response)


@pytest.mark.django_db
def test_exclude_sites_reach_the_provider(owner: User, on_emulator: Any) -> None:
    search = make_search(
        owner, query="lion", query_sent="lion", exclude_sites="bilibili.com,sohu.com"
    )
    search_run(search_id=search.pk)
    sent = next(r for r in reversed(on_emulator.requests) if r.path == "/search/multimodal")
    assert sent.json["advancedParams"] == {"excludeSites": "bilibili.com,sohu.com"}
    assert (
        not Search.objects.get(pk=search.pk)
        .results.filter(host_page_url__contains="bilibili")
        .exists()
    )


@pytest.mark.django_db
def test_a_provider_error_fails_the_search_with_a_sentence(owner: User, on_emulator: Any) -> None:
    on_emulator.set_fault("Retrieval.Arrears")
    search = make_search(owner, query="lion", query_sent="lion")
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "failed"
    assert search.error_code == "Retrieval.Arrears"
    assert "overdue balance" in search.error_message
    assert search.finished_at is not None


@pytest.mark.django_db
def test_running_twice_does_the_work_once(owner: User, on_emulator: Any) -> None:
    search = make_search(owner, query="lion", query_sent="lion")
    search_run(search_id=search.pk)
    calls = sum(r.path == "/search/multimodal" for r in on_emulator.requests)
    search_run(search_id=search.pk)
    assert sum(r.path == "/search/multimodal" for r in on_emulator.requests) == calls
    assert Search.objects.get(pk=search.pk).results.count() == 20


@pytest.mark.django_db
def test_a_vanished_search_is_ignored(on_emulator: Any) -> None:
    search_run(search_id=987654)  # no exception, nothing sent
    assert not any(r.path == "/search/multimodal" for r in on_emulator.requests)


@pytest.mark.django_db
def test_images_are_fetched_once_across_searches(owner: User, on_emulator: Any) -> None:
    first = make_search(owner, query="lion", query_sent="lion")
    search_run(search_id=first.pk)
    image_fetches = sum(r.path.startswith("/images/") for r in on_emulator.requests)
    second = make_search(owner, query="lion", query_sent="lion")
    search_run(search_id=second.pk)
    assert sum(r.path.startswith("/images/") for r in on_emulator.requests) == image_fetches
    assert Thumbnail.objects.count() == 20


@pytest.mark.django_db
def test_without_the_allowlist_private_images_are_refused(
    owner: User, on_emulator: Any, settings: Any
) -> None:
    settings.FETCH_PRIVATE_ALLOWLIST = frozenset()
    search = make_search(owner, query="lion", query_sent="lion")
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "done"
    states = set(Thumbnail.objects.values_list("state", flat=True))
    assert states == {"unavailable"}
    assert not any(r.path.startswith("/images/") for r in on_emulator.requests)


@pytest.mark.django_db
def test_partial_items_are_repaired_or_dropped(owner: User, on_emulator: Any) -> None:
    on_emulator.set_fault("partial_items")
    search = make_search(owner, query="lion", query_sent="lion")
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "done"
    assert search.dropped_items > 0
    assert search.result_count + search.dropped_items == 20


@pytest.mark.django_db
def test_a_timeout_fails_clearly(owner: User, on_emulator: Any, settings: Any) -> None:
    settings.IQS_TIMEOUT_SECONDS = 0.5
    on_emulator.set_fault("slow")
    search = make_search(owner, query="lion", query_sent="lion")
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "failed"
    assert search.error_code == "Timeout"
    assert search.error_message
