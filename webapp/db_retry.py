"""Ride out a database restart: retry a unit of work on a dropped connection.

A fast PostgreSQL restart (``pg_ctl restart -m fast``) drops every connection
for a second or two. A background run that writes between network waits would
otherwise fail half-way and leave its search to the sweeper; retrying the one
write after a short wait lets it carry on. Only connection errors are retried,
and only outside a transaction: the caller's unit of work must be idempotent
(a conditional UPDATE, an insert that ignores duplicates), because a commit cut
off mid-way may or may not have happened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


def retry_on_disconnect(work: Callable[[], T], *, within_seconds: float = 20.0) -> T:
    """Run ``work``; on a connection error, reconnect and try again until the deadline."""
    deadline = time.monotonic() + within_seconds
    wait = 0.2
    while True:
        try:
            return work()
        except TRANSIENT_DB_ERRORS as exc:
            if connection.in_atomic_block or time.monotonic() + wait > deadline:
                raise
            logger.warning("database unavailable (%s); retrying in %.1f s", exc, wait)
            connection.close()
            time.sleep(wait)
            wait = min(wait * 2, 2.0)


def release_connection() -> None:
    """Hand this thread's connection back (to the pool) before a long network wait.

    A worker runs many searches in threads; each would otherwise hold a database
    connection for the whole provider call. Inside a transaction (tests wrap each
    test in one) the connection is kept.
    """
    if not connection.in_atomic_block:
        connection.close()
