"""Rows made for tests, with real-looking values and nothing hidden."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from PIL import Image

from webapp.search.models import Result, Search, Thumbnail
from webapp.search.thumbnails import thumbnail_relative_path, url_hash


def make_search(user: User, **fields: Any) -> Search:
    values: dict[str, Any] = {"query": "lion", "query_sent": "lion", "provider": "iqs"}
    values.update(fields)
    return Search.objects.create(user=user, **values)


def make_thumbnail(
    image_url: str, *, state: str = "ready", size: tuple[int, int] = (640, 480)
) -> Thumbnail:
    digest = url_hash(image_url)
    relative = ""
    if state == "ready":
        relative = thumbnail_relative_path(digest)
        path = Path(settings.MEDIA_ROOT) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (320, 240), "orange").save(path, "JPEG")
    return Thumbnail.objects.create(
        url_hash=digest,
        image_url=image_url,
        state=state,
        file=relative,
        width=size[0] if state == "ready" else None,
        height=size[1] if state == "ready" else None,
        thumb_width=320,
        thumb_height=240,
        error_message="" if state == "ready" else "The server answered 404.",
    )


def make_result(search: Search, rank: int, **fields: Any) -> Result:
    image_url = fields.pop("image_url", f"https://img.example.com/{search.pk}/{rank}.jpg")
    thumb_state = fields.pop("thumb_state", "ready")
    size = fields.pop("real_size", (fields.get("width") or 640, fields.get("height") or 480))
    values: dict[str, Any] = {
        "title": f"Result {rank}",
        "host_page_url": f"https://news.example.com/story/{rank}",
        "published_time": datetime(2025, 4, 12, 4, 47, tzinfo=UTC),
        "width": 640,
        "height": 480,
    }
    values.update(fields)
    thumb = make_thumbnail(image_url, state=thumb_state, size=size)
    result = Result.objects.create(
        search=search, rank=rank, image_url=image_url, thumbnail=thumb, **values
    )
    search.result_count = search.results.count()
    search.save(update_fields=["result_count"])
    return result
