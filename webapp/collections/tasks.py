"""Celery tasks: thin wrappers that load by ID and call one service."""

from __future__ import annotations

from celery import shared_task

from webapp.collections.services import collection_thumbnails_fetch, saved_searches_run_due


# Safe to run twice: only thumbnails still pending are fetched, and each image's
# failure is recorded on its row, so there is nothing to retry here.
@shared_task(
    name="collections.fetch_thumbnails", acks_late=True, soft_time_limit=300, time_limit=360
)
def fetch_collection_thumbnails(collection_id: int) -> None:
    collection_thumbnails_fetch(collection_id=collection_id)


# Run by Celery beat (CELERY_BEAT_SCHEDULE). Safe to run twice or from two
# beats: each due saved search is claimed with a conditional UPDATE.
@shared_task(name="collections.run_due_saved_searches", soft_time_limit=120, time_limit=180)
def run_due_saved_searches() -> int:
    return saved_searches_run_due()
