"""search_run for image searches: the real Responses client, streaming over a socket
from the emulator, persisted as it arrives, with thumbnails and usage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.factories import make_search
from tests.search.test_image_upload import jpeg_bytes
from webapp.search.models import Search
from webapp.search.query_images import query_image_store
from webapp.search.services import search_run


@pytest.fixture
def on_emulator(settings: Any, emulator: Any) -> Iterator[Any]:
    settings.DASHSCOPE_EFFECTIVE_BASE_URL = f"{emulator.url}/compatible-mode/v1"
    settings.DASHSCOPE_API_KEY = "dashscope-test-key"
    settings.FETCH_PRIVATE_ALLOWLIST = frozenset({("127.0.0.1", emulator.port)})
    settings.TOKEN_PRICE_INPUT_PER_1K_CNY = 0.002
    settings.TOKEN_PRICE_OUTPUT_PER_1K_CNY = 0.008
    emulator.set_pacing(0)
    yield emulator
    emulator.set_pacing(1)


def _image_search(owner: User, text: str = "find similar photos") -> Search:
    stored = query_image_store(jpeg_bytes((800, 600)))
    return make_search(
        owner, provider="image_search", query=text, query_sent=text, query_image=stored.name
    )


def _responses_requests(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.path.endswith("/responses")]


@pytest.mark.django_db
def test_an_image_search_stores_hits_text_usage_and_cost(owner: User, on_emulator: Any) -> None:
    search = _image_search(owner)
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "done", search.error_message
    assert 10 <= search.result_count <= 20
    assert search.answer_text.strip()
    assert search.tool_calls >= 1
    assert search.total_tokens and search.input_tokens and search.output_tokens
    expected = (
        search.tool_calls * 48 / 1000
        + search.input_tokens * 0.002 / 1000
        + search.output_tokens * 0.008 / 1000
    )
    assert float(search.cost_cny or 0) == pytest.approx(expected, abs=1e-5)


@pytest.mark.django_db
def test_the_image_goes_as_a_data_url_with_the_text(owner: User, on_emulator: Any) -> None:
    search = _image_search(owner, "landscapes in this style")
    search_run(search_id=search.pk)
    body = _responses_requests(on_emulator)[-1].json
    content = body["input"][0]["content"]
    kinds = {part["type"]: part for part in content}
    assert kinds["input_text"]["text"] == "landscapes in this style"
    assert kinds["input_image"]["image_url"].startswith("data:image/jpeg;base64,")
    assert body["tools"] == [{"type": "image_search"}]
    assert body["stream"] is True


@pytest.mark.django_db
def test_results_get_real_sizes_from_thumbnails(owner: User, on_emulator: Any) -> None:
    search = _image_search(owner)
    search_run(search_id=search.pk)
    for result in search.results.select_related("thumbnail"):
        assert result.thumbnail is not None and result.thumbnail.state == "ready"
        assert result.real_width and result.real_height
        assert result.host_page_url == ""


@pytest.mark.django_db
def test_a_cut_stream_keeps_what_arrived_as_partial(owner: User, on_emulator: Any) -> None:
    search = _image_search(owner)
    # Enough events for the search results to arrive, not enough to complete.
    on_emulator.set_fault("cut_after", api="responses", n=8)
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "partial", (search.status, search.result_count)
    assert search.result_count > 0
    assert search.error_code == "StreamInterrupted"
    assert search.error_message


@pytest.mark.django_db
def test_no_tool_call_is_said_plainly(owner: User, on_emulator: Any, owner_client: Any) -> None:
    search = _image_search(owner)
    on_emulator.set_fault("no_tool_call", api="responses")
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "done"
    assert search.result_count == 0
    assert search.stage == "no_tool_call"
    html = owner_client.get(f"/searches/{search.pk}/").content.decode()
    assert "answered without searching for images" in html


@pytest.mark.django_db
def test_malformed_events_do_not_crash_the_task(owner: User, on_emulator: Any) -> None:
    search = _image_search(owner)
    on_emulator.set_fault("malformed_event", api="responses")
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status in ("done", "partial")


@pytest.mark.django_db
def test_more_than_100_images_are_capped(owner: User, on_emulator: Any) -> None:
    search = _image_search(owner)
    on_emulator.set_fault("many_images", api="responses")
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.result_count == 100
    assert search.dropped_items == 50


@pytest.mark.parametrize(
    ("fault", "code_part"),
    [("http_401", "401"), ("http_403", "403"), ("http_429", "429"), ("http_500", "500")],
)
@pytest.mark.django_db
def test_provider_errors_fail_with_a_sentence(
    owner: User, on_emulator: Any, fault: str, code_part: str
) -> None:
    search = _image_search(owner)
    on_emulator.set_fault(fault, api="responses")
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "failed"
    assert search.error_message.endswith(".")
    assert "dashscope-test-key" not in search.error_message


@pytest.mark.django_db
def test_an_image_given_by_url_is_fetched_safely_first(owner: User, on_emulator: Any) -> None:
    url = f"{on_emulator.url}/images/q1.jpg?w=640&h=480&seed=3"
    search = make_search(owner, provider="image_search", query="", query_image_url=url)
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "done", search.error_message
    assert search.query_image.startswith("uploads/")


@pytest.mark.django_db
def test_a_private_image_url_is_refused(owner: User, on_emulator: Any, settings: Any) -> None:
    settings.FETCH_PRIVATE_ALLOWLIST = frozenset()
    url = f"{on_emulator.url}/images/q1.jpg?w=640&h=480&seed=3"
    search = make_search(owner, provider="image_search", query="", query_image_url=url)
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "failed"
    assert search.error_code == "BadQueryImage"
    assert "Could not fetch the query image" in search.error_message
    assert not _responses_requests(on_emulator)


@pytest.mark.django_db
def test_a_url_that_is_not_an_image_is_refused(owner: User, on_emulator: Any) -> None:
    search = make_search(
        owner, provider="image_search", query_image_url=f"{on_emulator.url}/images/broken.jpg"
    )
    search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == "failed"
    assert "not a picture" in search.error_message
