"""A running search, pushed to its open page as Server-Sent Events.

``GET /searches/<id>/live/`` streams three kinds of event, each a rendered
partial of "search/detail.html" (htmx's SSE extension swaps them in):

- ``results``: the whole #results partial, sent first and whenever the page's
  layout changes (the first images arrive, a filter is active);
- ``update``: only what changed, as out-of-band pieces: the status line, the
  model's answer, new cards (appended to #gallery) and cards whose thumbnail
  arrived (replaced in place);
- ``done``: the final #results partial; then the server ends the stream.

The view is async: an open page costs a coroutine, not a thread. It waits on
webapp/live/bus.py for "this search changed", and renders in a thread only
then. A stream ends after STREAM_MAX_SECONDS; the browser reconnects by itself
and is sent the whole state again, so nothing depends on one connection.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET

from webapp.db_retry import release_connection
from webapp.live.bus import changes, draining
from webapp.search.models import Result, Search
from webapp.search.views import detail_context

# A comment line this often keeps proxies from closing an idle stream and lets the
# server notice a page that went away; the search is also looked at again then.
KEEPALIVE_SECONDS = 10.0
STREAM_MAX_SECONDS = 300.0
# Tells the browser how soon to reconnect after the stream breaks.
RECONNECT_MILLISECONDS = 1000


@dataclass
class _PageState:
    """What this connection's page shows now, so the next frame sends only changes."""

    layout: tuple[object, ...] | None = None
    status_html: str = ""
    answer_html: str = ""
    card_states: dict[int, str] = field(default_factory=dict)


def sse_event(name: str, html: str) -> str:
    """One Server-Sent Event; every line of the payload gets its own ``data:`` field."""
    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
    return f"event: {name}\n{data}\n\n"


@require_GET
async def search_live(request: HttpRequest, pk: int) -> HttpResponseBase:
    user = await request.auser()
    if user.pk is None or not await Search.objects.filter(pk=pk, user_id=user.pk).aexists():
        raise Http404("No such search")
    # The checks above ran in this request's own thread; hand its database connection
    # back to the pool now, or an open stream would hold it for minutes.
    await sync_to_async(release_connection)()
    if not isinstance(request, ASGIRequest):
        # A WSGI server (Django's test server, a misconfigured deploy) would buffer
        # the whole stream. 204 tells the browser not to reconnect; the page polls.
        return HttpResponse(status=204)
    page_request = _as_detail_request(request, pk)
    response = StreamingHttpResponse(
        _stream(page_request, pk), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def _as_detail_request(request: HttpRequest, pk: int) -> HttpRequest:
    """The request as the gallery page saw it, so links built from the path stay right."""
    page_request = copy.copy(request)
    page_request.path = page_request.path_info = reverse("search:detail", args=[pk])
    return page_request


async def _stream(request: HttpRequest, search_id: int) -> AsyncIterator[str]:
    state = _PageState()
    started = time.monotonic()
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
    frame, finished = await sync_to_async(_next_frame)(request, search_id, state)
    yield frame
    if finished:
        return
    async for _ in changes(search_id, every=KEEPALIVE_SECONDS):
        if draining():
            return  # this server process is stopping; the page reconnects to another
        frame, finished = await sync_to_async(_next_frame)(request, search_id, state)
        yield frame or ": keep-alive\n\n"
        if finished or time.monotonic() - started > STREAM_MAX_SECONDS:
            return


def _next_frame(request: HttpRequest, search_id: int, state: _PageState) -> tuple[str, bool]:
    """The event to send now ("" if nothing changed) and whether the stream is over.

    The database connection goes back to the pool after each frame: a stream waits
    far longer between frames than it reads, and hundreds may be open at once.
    """
    try:
        return _render_frame(request, search_id, state)
    finally:
        release_connection()


def _render_frame(request: HttpRequest, search_id: int, state: _PageState) -> tuple[str, bool]:
    search = Search.objects.filter(pk=search_id).first()
    if search is None:
        return sse_event("done", '<div id="results"><p>This search was deleted.</p></div>'), True
    context = detail_context(request, search)  # type: ignore[arg-type]
    if search.is_finished:
        return sse_event("done", _render(request, "results", context)), True
    results: list[Result] = context["results"]  # type: ignore[assignment]
    layout = _layout(search, context)
    if layout != state.layout:
        state.layout = layout
        state.status_html = _render(request, "status_line", context)
        state.answer_html = _render(request, "answer", context)
        state.card_states = {r.rank: _card_state(r) for r in results}
        return sse_event("results", _render(request, "results", context)), False
    pieces = _changed_pieces(request, context, results, state)
    return (sse_event("update", "".join(pieces)) if pieces else ""), False


def _layout(search: Search, context: dict[str, object]) -> tuple[object, ...]:
    """What decides the partial's structure; a change sends the whole partial again.

    With a filter or a sort active, cards may move anywhere, so every frame is whole.
    """
    filters = context["filters"]
    filtered = bool(getattr(filters, "active", False))
    return (search.status, bool(search.result_count), filtered and search.result_count)


def _changed_pieces(
    request: HttpRequest, context: dict[str, object], results: list[Result], state: _PageState
) -> list[str]:
    pieces = []
    status_html = _render(request, "status_line", context)
    if status_html != state.status_html:
        state.status_html = status_html
        pieces.append(_render(request, "status_line", {**context, "oob": True}))
    answer_html = _render(request, "answer", context)
    if answer_html != state.answer_html:
        state.answer_html = answer_html
        pieces.append(_render(request, "answer", {**context, "oob": True}))
    new = [r for r in results if r.rank not in state.card_states]
    if new:
        cards = _render(request, "cards", {**context, "results": new})
        pieces.append(f'<div hx-swap-oob="beforeend:#gallery">{cards}</div>')
    for result in results:
        if result.rank in state.card_states and state.card_states[result.rank] != _card_state(
            result
        ):
            pieces.append(_replacing_card(request, context, result))
    state.card_states.update({r.rank: _card_state(r) for r in results})
    return pieces


def _replacing_card(request: HttpRequest, context: dict[str, object], result: Result) -> str:
    """A card rendered to replace its older self out of band (its thumbnail arrived)."""
    html = _render(request, "cards", {**context, "results": [result]})
    target = f"outerHTML:#gallery > li[data-rank='{result.rank}']"
    return html.replace('<li class="card"', f'<li hx-swap-oob="{target}" class="card"', 1)


def _card_state(result: Result) -> str:
    thumb = result.thumbnail
    return thumb.state if thumb is not None else "none"


def _render(request: HttpRequest, partial: str, context: dict[str, object]) -> str:
    return render_to_string(f"search/detail.html#{partial}", context, request)
