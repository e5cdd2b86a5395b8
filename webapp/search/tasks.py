"""Celery tasks: thin wrappers that load by ID and call one service."""

from __future__ import annotations

from celery import shared_task

from webapp.db_retry import TRANSIENT_DB_ERRORS
from webapp.search.services import search_run


# The provider client retries its own transient errors, and search_run records
# every failure on the Search. Only a database that cannot be reached before
# the claim is retried here, with backoff; once claimed, a search that loses the
# database is the lease's and the sweeper's (webapp/search/leases.py).
# No time limits: the worker's threads pool cannot enforce them. Each provider
# client has its own overall deadline (image search: DASHSCOPE_TIMEOUT_SECONDS),
# and a run past SEARCH_MAX_RUN_SECONDS stops being renewed and is taken back.
@shared_task(
    name="search.run",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_DB_ERRORS,
    retry_backoff=2,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=8,
)
def run_search(search_id: int) -> None:
    search_run(search_id=search_id)
