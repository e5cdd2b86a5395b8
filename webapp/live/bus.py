"""Tell the web processes that a search changed, so open pages update at once.

The worker calls ``publish(search_id)`` after each write a viewer can see. A web
process streaming that search to a page awaits ``changes(search_id)``. The
message carries no data, only "look again": the page's state is always read
from the database, so a lost message costs a moment, never a wrong page (the
stream also looks again every few seconds on its own).

Two transports, chosen by LIVE_UPDATES_URL:
- **Redis pub/sub** (production): one pattern subscription per web process,
  shared by every stream that process serves.
- **A folder** (the embedded default, no server): the worker touches
  ``var/live/<search id>``; each web process checks the modification times of
  the searches it streams every FILE_POLL_SECONDS, with one ``stat`` each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "loupe:live:search:"
FILE_POLL_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 5.0


def _uses_redis() -> bool:
    return str(settings.LIVE_UPDATES_URL) != "file"


def _live_dir() -> Path:
    return Path(settings.LIVE_UPDATES_DIR)


# --- publishing (worker side, sync) -----------------------------------------------------

_publisher: redis.Redis | None = None
_publisher_lock = threading.Lock()
_last_failure_logged = 0.0


def _redis_publisher() -> redis.Redis:
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            _publisher = redis.Redis.from_url(
                settings.LIVE_UPDATES_URL, socket_connect_timeout=1, socket_timeout=1
            )
        return _publisher


def publish(search_id: int) -> None:
    """Announce that a search changed. Never raises: a live page is a convenience."""
    global _last_failure_logged
    try:
        if _uses_redis():
            _redis_publisher().publish(f"{CHANNEL_PREFIX}{search_id}", b"")
        else:
            path = _live_dir() / str(search_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    except Exception as exc:
        # Open pages still catch up on their own; say so once a minute, not per event.
        if time.monotonic() - _last_failure_logged > 60:
            _last_failure_logged = time.monotonic()
            logger.warning("could not announce a live update: %s", exc)


def forget_old_files(*, older_than_seconds: float = 3600) -> int:
    """Remove the folder transport's marker files of searches nobody watches any more."""
    if _uses_redis() or not _live_dir().is_dir():
        return 0
    cutoff = time.time() - older_than_seconds
    removed = 0
    for entry in os.scandir(_live_dir()):
        try:
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            pass
    return removed


# --- listening (web side, async) --------------------------------------------------------


class _Hub:
    """Per event loop: which streams wait on which search, and the one listener feeding them."""

    def __init__(self) -> None:
        self.waiters: dict[int, set[asyncio.Event]] = defaultdict(set)
        self._listener: asyncio.Task[None] | None = None

    def add(self, search_id: int) -> asyncio.Event:
        event = asyncio.Event()
        self.waiters[search_id].add(event)
        if self._listener is None or self._listener.done():
            listen = self._listen_redis if _uses_redis() else self._listen_files
            self._listener = asyncio.get_running_loop().create_task(listen())
        return event

    def remove(self, search_id: int, event: asyncio.Event) -> None:
        waiting = self.waiters.get(search_id)
        if waiting is not None:
            waiting.discard(event)
            if not waiting:
                del self.waiters[search_id]

    def wake(self, search_id: int) -> None:
        for event in self.waiters.get(search_id, ()):
            event.set()

    def wake_all(self) -> None:
        for search_id in list(self.waiters):
            self.wake(search_id)

    async def _listen_redis(self) -> None:
        wait = 0.25
        while self.waiters:
            try:
                await self._pump_redis()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("live updates: Redis unavailable (%s); retrying", exc)
            # Messages may have been missed while disconnected: every stream looks again.
            self.wake_all()
            await asyncio.sleep(wait)
            wait = min(wait * 2, RECONNECT_MAX_SECONDS)

    async def _pump_redis(self) -> None:
        client: Any = aioredis.from_url(settings.LIVE_UPDATES_URL, socket_connect_timeout=2)
        pubsub = client.pubsub()
        try:
            await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
            while self.waiters:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                if message is None:
                    continue
                channel = message["channel"].decode()
                self.wake(int(channel.removeprefix(CHANNEL_PREFIX)))
        finally:
            await pubsub.aclose()
            await client.aclose()

    async def _listen_files(self) -> None:
        seen: dict[int, int] = {}
        while self.waiters:
            for search_id in list(self.waiters):
                try:
                    mtime = os.stat(_live_dir() / str(search_id)).st_mtime_ns
                except FileNotFoundError:
                    mtime = 0
                if search_id in seen and mtime != seen[search_id]:
                    self.wake(search_id)
                seen[search_id] = mtime
            for gone in set(seen) - set(self.waiters):
                del seen[gone]
            await asyncio.sleep(FILE_POLL_SECONDS)


_draining = False


def drain_streams() -> None:
    """This process is stopping: every open stream ends now (its page reconnects elsewhere)."""
    global _draining
    _draining = True
    for hub in list(_hubs.values()):
        hub.wake_all()


def draining() -> bool:
    return _draining


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = weakref.WeakKeyDictionary()


def _hub() -> _Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _Hub()
    return hub


async def changes(search_id: int, *, every: float) -> AsyncIterator[None]:
    """Yield whenever the search may have changed, and at least every ``every`` seconds.

    The periodic wake-up makes a lost announcement (a Redis restart, a missed
    poll) cost at most ``every`` seconds, and lets the caller send keep-alives.
    """
    hub = _hub()
    event = hub.add(search_id)
    try:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=every)
            event.clear()
            yield
    finally:
        hub.remove(search_id, event)
