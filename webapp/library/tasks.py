"""Celery tasks: thin wrappers that load by ID and call one service."""

from __future__ import annotations

from celery import shared_task

from webapp.library.services import library_upload_process


# No autoretry: a bad file is recorded on the run, never retried, and the
# queued → running claim makes a second delivery a no-op.
@shared_task(name="library.process_upload", acks_late=True, soft_time_limit=1800, time_limit=1900)
def process_upload(run_id: int) -> None:
    library_upload_process(run_id=run_id)
