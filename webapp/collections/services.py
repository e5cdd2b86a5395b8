"""Every write and rule about collections, share links and saved searches."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from webapp.collections.imports import ImportedCollection, ImportedItem
from webapp.collections.models import (
    DESCRIPTION_MAX_CHARS,
    NAME_MAX_CHARS,
    NOTE_MAX_CHARS,
    Collection,
    CollectionItem,
    SavedSearch,
    SavedSearchRun,
    ShareLink,
)
from webapp.search.models import Result, Search, Thumbnail
from webapp.search.selectors import site_of
from webapp.search.services import SearchLimitReached, search_create
from webapp.search.thumbnails import thumbnails_fetch, thumbnails_for_urls, url_hash

logger = logging.getLogger(__name__)

SHARE_TOKEN_BYTES = 32  # 256 bits; the issue asks for at least 128


# --- collections --------------------------------------------------------------------


def _clean_name(name: str, *, thing: str = "collection") -> str:
    clean = " ".join((name or "").split())
    if not clean:
        raise ValidationError({"name": [f"Give the {thing} a name."]})
    if len(clean) > NAME_MAX_CHARS:
        raise ValidationError(
            {"name": [f"Keep the name to {NAME_MAX_CHARS} characters (it has {len(clean)})."]}
        )
    return clean


def _clean_description(description: str) -> str:
    clean = (description or "").strip()
    if len(clean) > DESCRIPTION_MAX_CHARS:
        raise ValidationError(
            {
                "description": [
                    f"Keep the description to {DESCRIPTION_MAX_CHARS} characters "
                    f"(it has {len(clean)})."
                ]
            }
        )
    return clean


def collection_create(*, user: User, name: str, description: str = "") -> Collection:
    """A new, empty collection. Raises ValidationError naming the field."""
    clean_name = _clean_name(name)
    clean_description = _clean_description(description)
    return Collection.objects.create(user=user, name=clean_name, description=clean_description)


def collection_update(*, collection: Collection, name: str, description: str) -> Collection:
    collection.name = _clean_name(name)
    collection.description = _clean_description(description)
    collection.save(update_fields=["name", "description"])
    return collection


def collection_delete(*, collection: Collection) -> None:
    """The collection, its items and its share links go; thumbnails and searches stay."""
    collection.delete()


def _lock(collection: Collection) -> None:
    """Serialise writers that renumber or append to one collection.

    SELECT ... FOR UPDATE on PostgreSQL; SQLite takes the database write lock
    at BEGIN (transaction_mode IMMEDIATE), which serialises them anyway.
    """
    Collection.objects.select_for_update().filter(pk=collection.pk).exists()


def _next_position(collection: Collection) -> int:
    top = CollectionItem.objects.filter(collection=collection).aggregate(top=Max("position"))
    return (top["top"] if top["top"] is not None else -1) + 1


@dataclass(frozen=True)
class ItemFields:
    """What an item copies from its source: a Result, an API call or an import."""

    image_url: str
    title: str = ""
    host_page_url: str = ""
    published_time: datetime | None = None
    width: int | None = None
    height: int | None = None
    note: str = ""
    provider: str = ""
    source_search: Search | None = None
    source_query: str = ""
    source_rank: int | None = None
    saved_at: datetime | None = None


def _item_row(
    collection: Collection, fields: ItemFields, *, position: int, thumbnail: Thumbnail | None
) -> CollectionItem:
    return CollectionItem(
        collection=collection,
        position=position,
        image_url_hash=url_hash(fields.image_url),
        image_url=fields.image_url,
        title=fields.title[:500],
        host_page_url=fields.host_page_url,
        site=site_of(fields.host_page_url)[:253],
        published_time=fields.published_time,
        width=fields.width,
        height=fields.height,
        note=fields.note[:NOTE_MAX_CHARS],
        provider=fields.provider[:20],
        source_search=fields.source_search,
        source_query=fields.source_query[:200],
        source_rank=fields.source_rank,
        saved_at=fields.saved_at or timezone.now(),
        thumbnail=thumbnail,
    )


def collection_add_image(
    *, collection: Collection, fields: ItemFields
) -> tuple[CollectionItem, bool]:
    """Add one image at the end; (item, created). Saving it again changes nothing.

    The unique constraint on (collection, image) decides a race between two
    saves of the same image: the loser finds the winner's row.
    """
    digest = url_hash(fields.image_url)
    existing = CollectionItem.objects.filter(collection=collection, image_url_hash=digest).first()
    if existing is not None:
        return existing, False
    thumbnail = thumbnails_for_urls([fields.image_url])[fields.image_url]
    try:
        with transaction.atomic():
            _lock(collection)
            item = _item_row(
                collection, fields, position=_next_position(collection), thumbnail=thumbnail
            )
            item.save()
            if thumbnail.state == Thumbnail.State.PENDING and fields.source_search is None:
                # Nobody else will fetch an image that came from outside a search.
                _queue_thumbnails(collection)
    except IntegrityError:
        return CollectionItem.objects.get(collection=collection, image_url_hash=digest), False
    return item, True


def collection_add_result(*, collection: Collection, result: Result) -> tuple[CollectionItem, bool]:
    """Save a search result into a collection, as a snapshot of what it said."""
    search = result.search
    return collection_add_image(
        collection=collection,
        fields=ItemFields(
            image_url=result.image_url,
            title=result.title,
            host_page_url=result.host_page_url,
            published_time=result.published_time,
            width=result.width,
            height=result.height,
            provider=search.provider,
            source_search=search,
            source_query=search.query,
            source_rank=result.rank,
        ),
    )


def collection_item_remove(*, item: CollectionItem) -> None:
    item.delete()


def collection_item_set_note(*, item: CollectionItem, note: str) -> CollectionItem:
    clean = " ".join((note or "").split())
    if len(clean) > NOTE_MAX_CHARS:
        raise ValidationError(
            {"note": [f"Keep the note to {NOTE_MAX_CHARS} characters (it has {len(clean)})."]}
        )
    item.note = clean
    item.save(update_fields=["note"])
    return item


def collection_item_move(*, item: CollectionItem, to_index: int) -> int:
    """Move an item to a 0-based place in its collection's order; return the place.

    An index out of range is clamped, so "move down" on the last item changes nothing.
    """
    return _move(item, lambda current: to_index)


def collection_item_step(*, item: CollectionItem, direction: str) -> int:
    """Move one place up (earlier) or down (later): the buttons' and the keyboard's reorder."""
    if direction not in ("up", "down"):
        raise ValidationError({"direction": ["Move an item “up” or “down”."]})
    step = -1 if direction == "up" else 1
    return _move(item, lambda current: current + step)


def _move(item: CollectionItem, target_of: Callable[[int], int]) -> int:
    """Renumber the collection 0..n-1 with ``item`` at ``target_of(its current place)``.

    The order is read under the collection's lock, so two moves at once (two
    tabs, a fast double press) each see the other's result. Only rows whose
    number changes are written; after a removal there can be gaps, which the
    first move closes.
    """
    with transaction.atomic():
        _lock(item.collection)
        order = list(
            CollectionItem.objects.filter(collection_id=item.collection_id)
            .order_by("position", "pk")
            .values_list("pk", "position")
        )
        pks = [pk for pk, _ in order]
        target = max(0, min(target_of(pks.index(item.pk)), len(pks) - 1))
        pks.remove(item.pk)
        pks.insert(target, item.pk)
        current = dict(order)
        changed = [
            CollectionItem(pk=pk, position=index)
            for index, pk in enumerate(pks)
            if current[pk] != index
        ]
        CollectionItem.objects.bulk_update(changed, ["position"], batch_size=500)
    item.position = target
    return target


def _queue_thumbnails(collection: Collection) -> None:
    """Fetch the collection's missing thumbnails in the worker, once this transaction commits."""
    collection_id = collection.pk
    transaction.on_commit(lambda: _dispatch_thumbnails(collection_id))


def _dispatch_thumbnails(collection_id: int) -> None:
    from webapp.collections.tasks import fetch_collection_thumbnails  # tasks import services

    try:
        fetch_collection_thumbnails.delay(collection_id)
    except Exception:  # a broker that is down must not fail the save; the page shows "Loading…"
        logger.exception("could not queue thumbnails for collection %s", collection_id)


def collection_thumbnails_fetch(*, collection_id: int) -> int:
    """Fetch the thumbnails a collection still lacks. Safe to run twice: only pending ones."""
    pending = Thumbnail.objects.filter(
        collection_items__collection_id=collection_id, state=Thumbnail.State.PENDING
    ).distinct()
    return thumbnails_fetch(thumbnails=list(pending))


# --- sharing ------------------------------------------------------------------------


def collection_share(*, collection: Collection, expires_at: datetime | None = None) -> ShareLink:
    """The collection's live share link, made if needed; ``expires_at`` sets its expiry.

    A link that already works keeps its token (people may have it), so asking
    again only changes the expiry. An expired one is retired for a fresh token.
    """
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ValidationError({"expires_at": ["The expiry must be in the future."]})
    with transaction.atomic():
        _lock(collection)
        link = ShareLink.objects.filter(collection=collection, revoked_at__isnull=True).first()
        if link is not None and link.is_live(now):
            if expires_at is not None:
                link.expires_at = expires_at
                link.save(update_fields=["expires_at"])
            return link
        if link is not None:
            link.revoked_at = now
            link.save(update_fields=["revoked_at"])
        return ShareLink.objects.create(
            collection=collection,
            token=secrets.token_urlsafe(SHARE_TOKEN_BYTES),
            expires_at=expires_at,
        )


def collection_unshare(*, collection: Collection) -> int:
    """Revoke the collection's link; its URL answers 404 from now on. Returns how many."""
    return ShareLink.objects.filter(collection=collection, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


# --- import ---------------------------------------------------------------------------


def collection_import(*, user: User, parsed: ImportedCollection) -> Collection:
    """A new collection holding every imported item, in order, in one transaction.

    ``parsed`` comes from imports.parse_export, which already refused malformed
    or oversized input, so nothing here is partial: either the collection and all
    its items exist afterwards, or nothing does.
    """
    name = _clean_name(parsed.name)
    description = _clean_description(parsed.description)
    items = _dedupe(parsed.items)
    own_searches = _own_search_ids(user, items)
    with transaction.atomic():
        collection = Collection.objects.create(user=user, name=name, description=description)
        thumbnails = thumbnails_for_urls(item.image_url for item in items)
        rows = [
            _item_row(
                collection,
                _fields_of(item, own_searches),
                position=position,
                thumbnail=thumbnails[item.image_url],
            )
            for position, item in enumerate(items)
        ]
        CollectionItem.objects.bulk_create(rows, batch_size=500)
        if any(t.state == Thumbnail.State.PENDING for t in thumbnails.values()):
            _queue_thumbnails(collection)
    return collection


def _dedupe(items: list[ImportedItem]) -> list[ImportedItem]:
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.image_url not in seen:
            seen.add(item.image_url)
            unique.append(item)
    return unique


def _own_search_ids(user: User, items: list[ImportedItem]) -> dict[int, Search]:
    """Provenance links back to a search only if it still exists and is the importer's."""
    ids = {item.search_id for item in items if item.search_id is not None}
    return {s.pk: s for s in Search.objects.filter(user=user, pk__in=ids)} if ids else {}


def _fields_of(item: ImportedItem, own_searches: dict[int, Search]) -> ItemFields:
    return ItemFields(
        image_url=item.image_url,
        title=item.title,
        host_page_url=item.host_page_url,
        published_time=item.published_time,
        width=item.width,
        height=item.height,
        note=item.note,
        provider=item.provider,
        source_search=own_searches.get(item.search_id) if item.search_id else None,
        source_query=item.query,
        source_rank=item.rank,
        saved_at=item.saved_at,
    )


# --- saved searches -------------------------------------------------------------------


class SavedSearchRunRefused(Exception):
    """A run could not start; ``message`` says why in a sentence. Nothing was queued."""

    def __init__(self, message: str, *, limit_reached: bool = False) -> None:
        self.message = message
        self.limit_reached = limit_reached
        super().__init__(message)


def _clean_schedule(schedule: str) -> str:
    if schedule not in SavedSearch.Schedule.values:
        raise ValidationError({"schedule": ["Choose how often: only when asked, daily or weekly."]})
    return schedule


def _next_run(schedule: str, now: datetime) -> datetime | None:
    interval = SavedSearch.INTERVALS.get(schedule)  # type: ignore[call-overload]
    return now + interval if interval else None


def saved_search_create(
    *,
    user: User,
    search: Search,
    name: str,
    schedule: str = SavedSearch.Schedule.MANUAL,
    filters: dict[str, object] | None = None,
) -> SavedSearch:
    """Keep a search's input under a name. The search itself becomes the first run."""
    clean_name = _clean_name(name, thing="saved search")
    clean_schedule = _clean_schedule(schedule)
    with transaction.atomic():
        saved = SavedSearch.objects.create(
            user=user,
            name=clean_name,
            provider=search.provider,
            query=search.query,
            exclude_sites=search.exclude_sites,
            query_image=search.query_image,
            query_image_url=search.query_image_url,
            filters=filters or {},
            schedule=clean_schedule,
            next_run_at=_next_run(clean_schedule, timezone.now()),
        )
        if not SavedSearchRun.objects.filter(search=search).exists():
            SavedSearchRun.objects.create(
                saved_search=saved, search=search, trigger=SavedSearchRun.Trigger.SAVED
            )
    return saved


def saved_search_update(*, saved_search: SavedSearch, name: str, schedule: str) -> SavedSearch:
    clean_name = _clean_name(name, thing="saved search")
    clean_schedule = _clean_schedule(schedule)
    if clean_schedule != saved_search.schedule:
        saved_search.next_run_at = _next_run(clean_schedule, timezone.now())
    saved_search.name = clean_name
    saved_search.schedule = clean_schedule
    saved_search.save(update_fields=["name", "schedule", "next_run_at"])
    return saved_search


def saved_search_delete(*, saved_search: SavedSearch) -> None:
    """The saved search and its run links go; the searches stay in history."""
    saved_search.delete()


def _image_input(saved_search: SavedSearch) -> dict[str, object]:
    """The query image, for a saved image search, as search_create takes it."""
    if not (saved_search.query_image or saved_search.query_image_url):
        return {}
    from webapp.search.query_images import query_image_bytes

    image = query_image_bytes(saved_search.query_image) if saved_search.query_image else None
    if image is None and not saved_search.query_image_url:
        raise SavedSearchRunRefused(
            "The image this search started from is no longer stored, so it cannot run again."
        )
    return {"image": image, "image_url": "" if image is not None else saved_search.query_image_url}


def saved_search_run(
    *, saved_search: SavedSearch, trigger: str = SavedSearchRun.Trigger.MANUAL
) -> SavedSearchRun:
    """Start a new run: a normal Search (validated and queued by search_create), linked here.

    Raises SavedSearchRunRefused with a sentence when the input is no longer
    valid or the daily limit is used up; the reason is also kept on the saved
    search, so a scheduled run that could not start says so on its page.
    """
    try:
        with transaction.atomic():
            search = search_create(
                user=saved_search.user,
                query=saved_search.query,
                provider=saved_search.provider,
                exclude_sites=saved_search.exclude_sites,
                **_image_input(saved_search),  # type: ignore[arg-type]
            )
            run = SavedSearchRun.objects.create(
                saved_search=saved_search, search=search, trigger=trigger
            )
    except SearchLimitReached as exc:
        _refuse(saved_search, f"This search could not run: {exc.message}", limit_reached=True)
    except ValidationError as exc:
        _refuse(
            saved_search,
            "This search could not run, because its input is no longer accepted: "
            + " ".join(exc.messages),
        )
    except SavedSearchRunRefused as exc:
        _refuse(saved_search, exc.message)
    if saved_search.last_error:
        saved_search.last_error = ""
        saved_search.last_error_at = None
        saved_search.save(update_fields=["last_error", "last_error_at"])
    return run


def _refuse(saved_search: SavedSearch, message: str, *, limit_reached: bool = False) -> NoReturn:
    saved_search.last_error = message[:500]
    saved_search.last_error_at = timezone.now()
    saved_search.save(update_fields=["last_error", "last_error_at"])
    raise SavedSearchRunRefused(message, limit_reached=limit_reached)


def saved_searches_run_due(*, now: datetime | None = None) -> int:
    """Run every scheduled saved search whose time has come; return how many started.

    Each one is claimed by moving ``next_run_at`` forward with a conditional
    UPDATE on the value just read, so two beats (or a task delivered twice)
    never start the same run twice. A run that is refused (daily limit) is not
    retried before its next turn; its page says why.
    """
    now = now or timezone.now()
    due = SavedSearch.objects.filter(next_run_at__lte=now).exclude(
        schedule=SavedSearch.Schedule.MANUAL
    )
    started = 0
    for saved in due.select_related("user"):
        claimed = SavedSearch.objects.filter(pk=saved.pk, next_run_at=saved.next_run_at).update(
            next_run_at=_next_run(saved.schedule, now)
        )
        if not claimed:
            continue
        try:
            saved_search_run(saved_search=saved, trigger=SavedSearchRun.Trigger.SCHEDULE)
        except SavedSearchRunRefused as exc:
            logger.info("scheduled run of saved search %s refused: %s", saved.pk, exc.message)
            continue
        started += 1
    return started
