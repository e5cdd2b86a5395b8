"""The JSON API for collections (/api/v1/collections). Owner only; anyone else gets 404."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status

from webapp.collections import selectors, services
from webapp.collections.exports import export_response
from webapp.collections.imports import clean_http_url
from webapp.collections.models import Collection, CollectionItem
from webapp.collections.services import ItemFields

router = Router(tags=["collections"])


class ProblemOut(Schema):
    detail: str
    errors: dict[str, list[str]] = {}


class CollectionIn(Schema):
    name: str = Field(..., description="1–100 characters.", examples=["Lion references"])
    description: str = Field("", description="Up to 1,000 characters.")


class CreatedOut(Schema):
    id: int


class CollectionSummaryOut(Schema):
    id: int
    name: str
    description: str
    itemCount: int
    coverUrl: str | None
    url: str
    createdAt: datetime


class ProvenanceOut(Schema):
    provider: str
    searchId: int | None
    query: str
    rank: int | None
    savedAt: datetime


class ItemOut(Schema):
    id: int
    position: int
    title: str
    imageUrl: str
    hostPageUrl: str
    publishedTime: datetime | None
    width: int | None
    height: int | None
    note: str
    thumbnailUrl: str | None
    provenance: ProvenanceOut


class ShareOut(Schema):
    url: str
    expiresAt: datetime | None


class CollectionOut(Schema):
    id: int
    name: str
    description: str
    createdAt: datetime
    share: ShareOut | None
    items: list[ItemOut]


class ItemIn(Schema):
    """Either a search result, by ``searchId`` and ``rank``, or the image's own fields."""

    searchId: int | None = None
    rank: int | None = None
    imageUrl: str | None = None
    title: str = Field("", max_length=500)
    hostPageUrl: str = Field("", max_length=4096)
    publishedTime: datetime | None = None
    width: int | None = Field(None, ge=1, le=100_000)
    height: int | None = Field(None, ge=1, le=100_000)
    note: str = Field("", max_length=280)


class ItemCreatedOut(Schema):
    id: int
    created: bool = Field(..., description="false when the image was already in the collection")


class ShareIn(Schema):
    expiresAt: datetime | None = Field(None, description="Omit for a link that never expires.")


def _own_collection(request: HttpRequest, collection_id: int) -> Collection:
    return get_object_or_404(Collection, pk=collection_id, user=request.auth)  # type: ignore[attr-defined]


def _thumbnail_url(item: CollectionItem) -> str | None:
    thumb = item.thumbnail
    if thumb is None or thumb.state != thumb.State.READY:
        return None
    return reverse("search:thumbnail", args=[thumb.url_hash])


def _item_out(item: CollectionItem) -> ItemOut:
    return ItemOut(
        id=item.pk,
        position=item.position,
        title=item.title,
        imageUrl=item.image_url,
        hostPageUrl=item.host_page_url,
        publishedTime=item.published_time,
        width=item.real_width,
        height=item.real_height,
        note=item.note,
        thumbnailUrl=_thumbnail_url(item),
        provenance=ProvenanceOut(
            provider=item.provider,
            searchId=item.source_search_id,
            query=item.source_query,
            rank=item.source_rank,
            savedAt=item.saved_at,
        ),
    )


def _problem(exc: ValidationError, names: dict[str, str] | None = None) -> ProblemOut:
    names = names or {}
    errors = {names.get(k, k): v for k, v in exc.message_dict.items()}
    first = next(iter(errors.values()))[0]
    return ProblemOut(detail=first, errors=errors)


@router.post(
    "/collections",
    response={201: CreatedOut, 400: ProblemOut},
    summary="Create a collection",
)
def create_collection(
    request: HttpRequest, payload: CollectionIn
) -> Status[CreatedOut | ProblemOut]:
    try:
        collection = services.collection_create(
            user=request.auth,  # type: ignore[attr-defined]
            name=payload.name,
            description=payload.description,
        )
    except ValidationError as exc:
        return Status(400, _problem(exc))
    return Status(201, CreatedOut(id=collection.pk))


@router.get("/collections", response=list[CollectionSummaryOut], summary="Your collections")
def list_collections(request: HttpRequest) -> list[CollectionSummaryOut]:
    return [
        CollectionSummaryOut(
            id=c.pk,
            name=c.name,
            description=c.description,
            itemCount=c.item_count,  # type: ignore[attr-defined]
            coverUrl=reverse("search:thumbnail", args=[c.cover_hash])  # type: ignore[attr-defined]
            if c.cover_hash  # type: ignore[attr-defined]
            else None,
            url=reverse("collections:detail", args=[c.pk]),
            createdAt=c.created_at,
        )
        for c in selectors.collections_for(user=request.auth)  # type: ignore[attr-defined]
    ]


@router.get(
    "/collections/{collection_id}", response=CollectionOut, summary="A collection and its items"
)
def get_collection(request: HttpRequest, collection_id: int) -> CollectionOut:
    collection = _own_collection(request, collection_id)
    link = selectors.collection_share_link(collection=collection)
    items = collection.items.select_related("thumbnail").order_by("position", "pk")
    return CollectionOut(
        id=collection.pk,
        name=collection.name,
        description=collection.description,
        createdAt=collection.created_at,
        share=ShareOut(url=_share_url(request, link.token), expiresAt=link.expires_at)
        if link and link.is_live()
        else None,
        items=[_item_out(item) for item in items],
    )


def _fields_from_payload(payload: ItemIn) -> ItemFields:
    """The image's own fields; its URLs end up in links, so only http(s) is accepted."""
    errors: dict[str, list[str]] = {}
    urls = {"imageUrl": payload.imageUrl or "", "hostPageUrl": payload.hostPageUrl}
    for key, value in urls.items():
        if value:
            try:
                urls[key] = clean_http_url(value, key)
            except ValueError as exc:
                errors[key] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    image_url, host_page_url = urls["imageUrl"], urls["hostPageUrl"]
    return ItemFields(
        image_url=image_url,
        title=payload.title.strip(),
        host_page_url=host_page_url,
        published_time=payload.publishedTime,
        width=payload.width,
        height=payload.height,
        note=payload.note,
    )


@router.post(
    "/collections/{collection_id}/items",
    response={200: ItemCreatedOut, 201: ItemCreatedOut, 400: ProblemOut},
    summary="Add an image",
    description='Send `{"searchId": 12, "rank": 3}` to save a result of one of your '
    "searches, or the image's own fields (`imageUrl` required). Adding an image that is "
    "already there changes nothing and answers 200.",
)
def add_item(
    request: HttpRequest, collection_id: int, payload: ItemIn
) -> Status[ItemCreatedOut | ProblemOut]:
    collection = _own_collection(request, collection_id)
    if payload.searchId is not None or payload.rank is not None:
        if payload.searchId is None or payload.rank is None:
            return Status(400, ProblemOut(detail="Send both searchId and rank, or neither."))
        result = selectors.result_for_user(
            user=request.auth,  # type: ignore[attr-defined]
            search_id=payload.searchId,
            rank=payload.rank,
        )
        if result is None:
            detail = f"Your search {payload.searchId} has no result #{payload.rank}."
            return Status(400, ProblemOut(detail=detail))
        item, created = services.collection_add_result(collection=collection, result=result)
    else:
        if not payload.imageUrl:
            return Status(400, ProblemOut(detail="Send searchId and rank, or an imageUrl."))
        try:
            fields = _fields_from_payload(payload)
            item, created = services.collection_add_image(collection=collection, fields=fields)
        except ValidationError as exc:
            return Status(400, _problem(exc))
    return Status(201 if created else 200, ItemCreatedOut(id=item.pk, created=created))


@router.delete(
    "/collections/{collection_id}/items/{item_id}",
    response={204: None},
    summary="Remove an image",
)
def remove_item(request: HttpRequest, collection_id: int, item_id: int) -> Status[None]:
    collection = _own_collection(request, collection_id)
    item = get_object_or_404(CollectionItem, pk=item_id, collection=collection)
    services.collection_item_remove(item=item)
    return Status(204, None)


def _share_url(request: HttpRequest, token: str) -> str:
    return request.build_absolute_uri(reverse("collections:shared", args=[token]))


@router.post(
    "/collections/{collection_id}/share",
    response={200: ShareOut, 400: ProblemOut},
    summary="Share read-only",
    description="Returns the collection's public link, making one if needed. Asking again "
    "keeps the same link (and changes its expiry if you send one).",
)
def share_collection(
    request: HttpRequest, collection_id: int, payload: ShareIn | None = None
) -> Status[ShareOut | ProblemOut]:
    collection = _own_collection(request, collection_id)
    try:
        link = services.collection_share(
            collection=collection, expires_at=payload.expiresAt if payload else None
        )
    except ValidationError as exc:
        return Status(400, _problem(exc, {"expires_at": "expiresAt"}))
    return Status(200, ShareOut(url=_share_url(request, link.token), expiresAt=link.expires_at))


@router.delete(
    "/collections/{collection_id}/share", response={204: None}, summary="Revoke the share link"
)
def unshare_collection(request: HttpRequest, collection_id: int) -> Status[None]:
    collection = _own_collection(request, collection_id)
    services.collection_unshare(collection=collection)
    return Status(204, None)


class ExportQuery(Schema):
    format: Literal["json", "csv", "zip"] = "json"


@router.get(
    "/collections/{collection_id}/export",
    response={200: None},
    summary="Export (streamed)",
    description="`format=json` (imageItems in the IQS shape, plus notes and provenance), "
    "`csv`, or `zip` (the thumbnails and a manifest.json).",
)
def export_collection(
    request: HttpRequest, collection_id: int, query: Query[ExportQuery]
) -> HttpResponseBase:
    collection = _own_collection(request, collection_id)
    return export_response(selectors.collection_export_source(collection=collection), query.format)
