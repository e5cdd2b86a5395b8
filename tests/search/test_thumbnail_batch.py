"""Thumbnails fetched by the worker: shared pools, one fetch per image at a time."""

from __future__ import annotations

from typing import Any

import pytest

from webapp.search.models import Thumbnail
from webapp.search.thumbnails import ThumbnailBatch, thumbnails_for_urls


@pytest.fixture
def images_on_emulator(settings: Any, emulator: Any) -> Any:
    settings.FETCH_PRIVATE_ALLOWLIST = frozenset({("127.0.0.1", emulator.port)})
    emulator.clear_requests()
    return emulator


def _image_requests(emulator: Any) -> list[str]:
    return [r.path for r in emulator.requests if r.path.startswith("/images/")]


@pytest.mark.django_db
def test_two_searches_wanting_the_same_image_at_once_fetch_it_once(
    images_on_emulator: Any,
) -> None:
    url = f"{images_on_emulator.url}/images/shared-lion.jpg?w=800&h=600"
    thumb = thumbnails_for_urls([url])[url]
    saved: list[str] = []
    first = ThumbnailBatch(on_saved=lambda: saved.append("a"))
    second = ThumbnailBatch(on_saved=lambda: saved.append("b"))
    with first, second:
        first.submit([thumb])
        second.submit([thumb])
    assert _image_requests(images_on_emulator) == ["/images/shared-lion.jpg"]
    thumb.refresh_from_db()
    assert thumb.state == Thumbnail.State.READY
    assert (thumb.width, thumb.height) == (800, 600)
    assert (first.ready, second.ready) == (1, 1)
    assert sorted(saved) == ["a", "b"]  # each search told its page


@pytest.mark.django_db
def test_a_batch_saves_each_thumbnail_as_it_lands(images_on_emulator: Any) -> None:
    urls = [f"{images_on_emulator.url}/images/lion-{n}.jpg?w=640&h=480" for n in range(5)]
    thumbs = thumbnails_for_urls(urls)
    saves: list[int] = []
    with ThumbnailBatch(
        on_saved=lambda: saves.append(Thumbnail.objects.filter(state="ready").count())
    ) as batch:
        batch.submit(thumbs.values())
    assert batch.ready == 5
    assert saves[-1] == 5
    assert saves == sorted(saves)  # the page hears of them as they land, not all at the end
