"""The worker's side: fetching a collection's missing thumbnails, and the beat schedule."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from tests.collections.factories import make_collection
from webapp.celery import app as celery_app
from webapp.collections.services import ItemFields, collection_add_image
from webapp.collections.tasks import fetch_collection_thumbnails
from webapp.imaging.phash import is_informative
from webapp.search.models import Thumbnail


def test_the_task_fetches_pending_thumbnails_and_hashes_them(
    owner: User, emulator: Any, settings: Any, thumbnail_tasks: list[int]
) -> None:
    settings.FETCH_PRIVATE_ALLOWLIST = frozenset({("127.0.0.1", emulator.port)})
    collection = make_collection(owner)
    good = f"{emulator.url}/images/a.jpg?w=800&h=600&seed=3"
    for url in (good, f"{emulator.url}/images/missing.jpg"):
        collection_add_image(collection=collection, fields=ItemFields(image_url=url))

    fetch_collection_thumbnails(collection.pk)  # run in-process, as the worker would

    ready = Thumbnail.objects.get(image_url=good)
    assert (ready.state, ready.width, ready.height) == ("ready", 800, 600)
    assert is_informative(ready.phash)  # filled in when the thumbnail was made
    assert Thumbnail.objects.get(image_url__endswith="missing.jpg").state == "unavailable"
    fetch_collection_thumbnails(collection.pk)  # safe to run twice: nothing pending is left
    assert [r.path for r in emulator.requests].count("/images/a.jpg") == 1


def test_a_deleted_collection_is_a_quiet_no_op(db: None) -> None:
    fetch_collection_thumbnails(987654)


def test_beat_runs_the_due_saved_searches_task() -> None:
    schedule: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE["run-due-saved-searches"]
    assert schedule["task"] in celery_app.tasks
    assert 0 < float(schedule["schedule"]) <= 3600
    assert settings.CELERY_BEAT_SCHEDULE_FILENAME.startswith(str(settings.VAR_DIR))
