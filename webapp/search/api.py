"""The JSON API for searches (/api/v1/searches). Thin, like the views."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, Router, Schema, Status

from webapp.search import services
from webapp.search.models import Result, Search

router = Router(tags=["searches"])


class SearchIn(Schema):
    query: str = Field(..., description="1–50 characters after trimming.", examples=["lion"])
    provider: Literal["iqs"] = "iqs"
    excludeSites: str = Field("", description="Comma-separated sites, e.g. a.com,b.com")


class SearchQueued(Schema):
    id: int
    status: str
    url: str


class ErrorOut(Schema):
    code: str
    message: str


class ProblemOut(Schema):
    detail: str
    errors: dict[str, list[str]] = {}


class ItemOut(Schema):
    rank: int
    title: str
    imageUrl: str
    hostPageUrl: str
    publishedTime: datetime | None
    width: int | None
    height: int | None
    thumbnailUrl: str | None
    available: bool | None = Field(..., description="null while the image is being fetched")


class SearchOut(Schema):
    id: int
    status: Literal["queued", "running", "done", "failed", "partial"]
    query: str
    querySent: str
    provider: str
    emulated: bool
    error: ErrorOut | None
    requestId: str
    searchTime: int | None = Field(..., description="Provider-reported search time, ms")
    durationMs: int | None = Field(..., description="Server side, from submit to done")
    createdAt: datetime
    items: list[ItemOut]


def _item(result: Result) -> ItemOut:
    thumb = result.thumbnail
    ready = thumb is not None and thumb.state == thumb.State.READY
    return ItemOut(
        rank=result.rank,
        title=result.title,
        imageUrl=result.image_url,
        hostPageUrl=result.host_page_url,
        publishedTime=result.published_time,
        width=result.real_width,
        height=result.real_height,
        thumbnailUrl=reverse("search:thumbnail", args=[thumb.url_hash])
        if ready and thumb
        else None,
        available=result.available,
    )


def _search_out(search: Search) -> SearchOut:
    error = (
        ErrorOut(code=search.error_code, message=search.error_message)
        if search.error_code
        else None
    )
    return SearchOut(
        id=search.pk,
        status=search.status,  # type: ignore[arg-type]
        query=search.query,
        querySent=search.query_sent,
        provider=search.provider,
        emulated=search.emulated,
        error=error,
        requestId=search.request_id,
        searchTime=search.search_time_ms,
        durationMs=search.duration_ms,
        createdAt=search.created_at,
        items=[_item(r) for r in search.results.select_related("thumbnail").order_by("rank")],
    )


@router.post(
    "/searches",
    response={202: SearchQueued, 400: ProblemOut, 429: ProblemOut},
    summary="Start a search",
    description="Validates and queues a search. Nothing is queued when the input is invalid.",
)
def create_search(request: HttpRequest, payload: SearchIn) -> Status[SearchQueued | ProblemOut]:
    try:
        search = services.search_create(
            user=request.auth,  # type: ignore[attr-defined]
            query=payload.query,
            provider=payload.provider,
            exclude_sites=payload.excludeSites,
        )
    except services.SearchLimitReached as exc:
        return Status(429, ProblemOut(detail=exc.message))
    except ValidationError as exc:
        errors = {
            ("excludeSites" if k == "exclude_sites" else k): v for k, v in exc.message_dict.items()
        }
        first = next(iter(errors.values()))[0]
        return Status(400, ProblemOut(detail=first, errors=errors))
    url = reverse("search:detail", args=[search.pk])
    return Status(202, SearchQueued(id=search.pk, status=search.status, url=url))


@router.get("/searches/{search_id}", response=SearchOut, summary="A search and its items")
def get_search(request: HttpRequest, search_id: int) -> SearchOut:
    search = get_object_or_404(Search, pk=search_id, user=request.auth)  # type: ignore[attr-defined]
    return _search_out(search)
