"""The live stream of a search page (GET /searches/<id>/live/, Server-Sent Events)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import AsyncClient, Client, RequestFactory

from tests.factories import make_result
from webapp.live import bus
from webapp.live.views import _next_frame, _PageState, sse_event
from webapp.search.models import Search, Thumbnail


def _search(owner: User, **fields: Any) -> Search:
    return Search.objects.create(user=owner, query="lion", **fields)


def _request(owner: User) -> Any:
    request = RequestFactory().get("/searches/1/")
    request.user = owner
    request.htmx = False  # type: ignore[attr-defined]
    return request


def _events(body: str) -> list[tuple[str, str]]:
    """(name, data) of each event in a stream body."""
    found = []
    for block in body.split("\n\n"):
        lines = block.splitlines()
        names = [line[7:] for line in lines if line.startswith("event: ")]
        if names:
            data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
            found.append((names[0], data))
    return found


def test_an_event_puts_every_line_in_its_own_data_field() -> None:
    assert sse_event("update", "<a>\n<b>") == "event: update\ndata: <a>\ndata: <b>\n\n"


async def _get_live(owner: User, search: Search) -> tuple[Any, str]:
    """The stream as an ASGI server serves it, read to its end."""
    client = AsyncClient()
    await client.aforce_login(owner)
    response = await client.get(f"/searches/{search.pk}/live/")
    body = "".join([chunk.decode() async for chunk in response.streaming_content])  # type: ignore[attr-defined]
    return response, body


# Committed rows: the stream reads the database from a thread of its own.
@pytest.mark.django_db(transaction=True)
def test_a_finished_search_is_sent_whole_once_and_the_stream_ends(owner: User) -> None:
    search = _search(owner, status="done", result_count=1)
    make_result(search, 1, title="A lion at rest")
    response, body = asyncio.run(_get_live(owner, search))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"].startswith("no-cache")
    events = _events(body)
    assert [name for name, _ in events] == ["done"]
    assert "A lion at rest" in events[0][1]
    assert "sse-swap" not in events[0][1]  # the final partial listens for nothing more


def test_a_wsgi_server_gets_no_stream_and_the_page_polls(owner: User, owner_client: Client) -> None:
    # A WSGI server would buffer the stream to its end; 204 stops the browser reconnecting.
    search = _search(owner, status="running")
    assert owner_client.get(f"/searches/{search.pk}/live/").status_code == 204


def test_a_strangers_search_is_not_found(owner: User, stranger_client: Client) -> None:
    search = _search(owner)
    assert stranger_client.get(f"/searches/{search.pk}/live/").status_code == 404


def test_anonymous_is_sent_to_login(owner: User, anon_client: Client) -> None:
    search = _search(owner)
    response = anon_client.get(f"/searches/{search.pk}/live/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_posting_is_not_allowed(owner: User, owner_client: Client) -> None:
    search = _search(owner)
    assert owner_client.post(f"/searches/{search.pk}/live/").status_code == 405


def test_the_first_frame_is_whole_and_later_frames_send_only_what_changed(owner: User) -> None:
    search = _search(owner, status="running", result_count=2)
    make_result(search, 1, title="First lion", thumb_state="pending")
    make_result(search, 2, title="Second lion", thumb_state="pending")
    request, state = _request(owner), _PageState()

    frame, finished = _next_frame(request, search.pk, state)
    assert not finished
    [(name, data)] = _events(frame)
    assert name == "results"
    assert "First lion" in data and "Second lion" in data

    assert _next_frame(request, search.pk, state) == ("", False)  # nothing changed

    # One thumbnail arrives and a third image is found: only those two cards are sent.
    Thumbnail.objects.filter(results__search=search, results__rank=1).update(
        state="ready", thumb_width=320, thumb_height=240, file="thumbs/x.jpg"
    )
    make_result(search, 3, title="Third lion", thumb_state="pending")
    Search.objects.filter(pk=search.pk).update(result_count=3)
    frame, finished = _next_frame(request, search.pk, state)
    [(name, data)] = _events(frame)
    assert name == "update"
    assert "Third lion" in data and 'hx-swap-oob="beforeend:#gallery"' in data
    assert "First lion" in data and "outerHTML:#gallery > li[data-rank='1']" in data
    assert "Second lion" not in data
    assert (
        'id="status-line" class="status-line" role="status" aria-live="polite" hx-swap-oob' in data
    )

    Search.objects.filter(pk=search.pk).update(status="done")
    frame, finished = _next_frame(request, search.pk, state)
    assert finished
    assert [name for name, _ in _events(frame)] == ["done"]


def test_a_deleted_search_ends_the_stream(owner: User) -> None:
    search = _search(owner, status="running")
    request, state = _request(owner), _PageState()
    search.delete()
    frame, finished = _next_frame(request, search.pk, state)
    assert finished
    assert "deleted" in frame


@pytest.mark.parametrize("transport", ["file", "redis"])
def test_a_published_change_wakes_the_stream_waiting_on_that_search(
    transport: str, settings: Any, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    if transport == "redis":
        settings.LIVE_UPDATES_URL = request.getfixturevalue("redis_url")
        bus._publisher = None
    else:
        settings.LIVE_UPDATES_URL = "file"
        settings.LIVE_UPDATES_DIR = tmp_path / "live"

    async def scenario() -> tuple[int, int]:
        woken = {7: 0, 8: 0}

        async def watch(search_id: int) -> None:
            async for _ in bus.changes(search_id, every=30):
                woken[search_id] += 1
                return

        watchers = [asyncio.create_task(watch(7)), asyncio.create_task(watch(8))]
        await asyncio.sleep(0.3)  # both are listening (Redis: subscribed)
        await asyncio.to_thread(bus.publish, 7)
        await asyncio.wait_for(watchers[0], timeout=5)
        await asyncio.sleep(0.2)
        watchers[1].cancel()
        return woken[7], woken[8]

    try:
        assert asyncio.run(scenario()) == (1, 0)
    finally:
        bus._publisher = None
