"""Celery tasks: thin wrappers that load by ID and call one service."""

from __future__ import annotations

from celery import shared_task

from webapp.search.services import search_run


# No autoretry: the provider client already retries its own transient errors
# with backoff, and search_run records every failure on the Search.
# The limits sit above the slowest provider's own deadline (image search:
# DASHSCOPE_TIMEOUT_SECONDS, 120 s) so the client, not Celery, ends a slow
# search, and what arrived is kept as "partial".
@shared_task(name="search.run", acks_late=True, soft_time_limit=150, time_limit=180)
def run_search(search_id: int) -> None:
    search_run(search_id=search_id)
