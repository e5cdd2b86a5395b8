"""The JSON API for searches (/api/v1/searches). Thin, like the views."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, Router, Schema, Status
from pydantic import ValidationError as PydanticValidationError

from webapp.search import services
from webapp.search.models import Result, Search

router = Router(tags=["searches"])

IDEMPOTENCY_KEY_MAX_LENGTH = 255


class SearchIn(Schema):
    query: str = Field(
        "", description="1–50 characters after trimming; optional with an image.", examples=["lion"]
    )
    provider: Literal["iqs", "image_search", ""] = Field(
        "", description="Empty: image_search when an image is given, else iqs."
    )
    excludeSites: str = Field("", description="Comma-separated sites, e.g. a.com,b.com")
    imageUrl: str = Field("", description="An http(s) address of a query image.")


_MULTIPART_SCHEMA = {
    "type": "object",
    "properties": {
        "image": {
            "type": "string",
            "format": "binary",
            "description": "JPEG, PNG, WebP, GIF or BMP, ≤10 MB",
        },
        "query": {"type": "string", "description": "Optional text to guide the image search"},
        "provider": {"type": "string", "enum": ["image_search", "iqs", ""]},
        "excludeSites": {"type": "string"},
        "imageUrl": {"type": "string"},
    },
}


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


class UsageOut(Schema):
    inputTokens: int | None
    outputTokens: int | None
    totalTokens: int | None
    toolCalls: int
    costCny: float | None = Field(..., description="Estimated cost in CNY")


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
    stage: str
    hasQueryImage: bool
    answerText: str = Field(..., description="The model's written answer (image_search)")
    usage: UsageOut | None
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


def _usage(search: Search) -> UsageOut | None:
    if search.total_tokens is None and not search.tool_calls:
        return None
    return UsageOut(
        inputTokens=search.input_tokens,
        outputTokens=search.output_tokens,
        totalTokens=search.total_tokens,
        toolCalls=search.tool_calls,
        costCny=float(search.cost_cny) if search.cost_cny is not None else None,
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
        stage=search.stage,
        hasQueryImage=bool(search.query_image),
        answerText=search.answer_text,
        usage=_usage(search),
        items=[_item(r) for r in search.results.select_related("thumbnail").order_by("rank")],
    )


def _read_search_input(request: HttpRequest) -> tuple[SearchIn, bytes | None]:
    """The same search as JSON or as multipart/form-data (to upload an image)."""
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("image")
        if (
            upload is not None
            and upload.size is not None
            and upload.size > settings.UPLOAD_MAX_BYTES
        ):
            raise ValidationError(
                {"image": ["The file is larger than 10 MB, which is Loupe's limit."]}
            )
        fields = {key: request.POST.get(key, "") for key in SearchIn.model_fields}
        return SearchIn.model_validate(fields), (upload.read() if upload is not None else None)
    return SearchIn.model_validate_json(request.body or b"{}"), None


_API_FIELD_NAMES = {"exclude_sites": "excludeSites", "image_url": "imageUrl"}


def _problem(exc: ValidationError) -> ProblemOut:
    errors = {_API_FIELD_NAMES.get(k, k): v for k, v in exc.message_dict.items()}
    first = next(iter(errors.values()))[0]
    return ProblemOut(detail=first, errors=errors)


@router.post(
    "/searches",
    response={202: SearchQueued, 400: ProblemOut, 429: ProblemOut},
    summary="Start a search",
    description=(
        "Validates and queues a search. Send JSON for a text search, or multipart/form-data "
        "with an `image` file (and optional `query`) to search by image. Nothing is queued "
        "when the input is invalid. Safe to retry with an `Idempotency-Key` header: the "
        "same key within 24 hours returns the first search instead of making another. "
        "A search accepted while the task queue is down stays `queued` and starts once "
        "the queue is back."
    ),
    openapi_extra={
        "parameters": [
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "Any unique string; a retry with the same key returns the "
                "first search (24 hours).",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": SearchIn.model_json_schema()},
                "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
            },
        },
    },
)
def create_search(request: HttpRequest) -> Status[SearchQueued | ProblemOut]:
    idempotency_key = request.headers.get("Idempotency-Key", "").strip()
    if len(idempotency_key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        detail = f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters."
        return Status(400, ProblemOut(detail=detail))
    try:
        payload, image = _read_search_input(request)
        search = services.search_create(
            idempotency_key=idempotency_key,
            user=request.auth,  # type: ignore[attr-defined]
            query=payload.query,
            provider=payload.provider,
            exclude_sites=payload.excludeSites,
            image=image,
            image_url=payload.imageUrl,
        )
    except PydanticValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return Status(400, ProblemOut(detail=detail))
    except services.SearchLimitReached as exc:
        return Status(429, ProblemOut(detail=exc.message))
    except ValidationError as exc:
        return Status(400, _problem(exc))
    url = reverse("search:detail", args=[search.pk])
    # Read back: the status is what the row says now (a retry may find it done).
    search.refresh_from_db(fields=["status"])
    return Status(202, SearchQueued(id=search.pk, status=search.status, url=url))


@router.get("/searches/{search_id}", response=SearchOut, summary="A search and its items")
def get_search(request: HttpRequest, search_id: int) -> SearchOut:
    search = get_object_or_404(Search, pk=search_id, user=request.auth)  # type: ignore[attr-defined]
    return _search_out(search)
