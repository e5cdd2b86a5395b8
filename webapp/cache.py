"""A Redis cache that a Redis outage cannot turn into errors.

Sessions are read through it (SESSION_ENGINE "cached_db": the database stays the
record, the cache spares a query on every signed-in request). Django's own Redis
backend raises when Redis is down, which would turn a broker restart into a site
outage; here an unreachable Redis is a cache miss, and a failed write is skipped.

Entries live at most MAX_TIMEOUT_SECONDS whatever the caller asks: a session
deleted (sign-out) while Redis was unreachable could otherwise linger in the
cache until its own expiry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_TIMEOUT_SECONDS = 600
_last_warning = 0.0


def _tolerant(work: Callable[[], T], fallback: T) -> T:
    global _last_warning
    try:
        return work()
    except RedisError as exc:
        if time.monotonic() - _last_warning > 60:  # once a minute, not once a request
            _last_warning = time.monotonic()
            logger.warning("cache unavailable, going without it: %s", exc)
        return fallback


class TolerantRedisCache(RedisCache):
    def get_backend_timeout(self, timeout: Any = DEFAULT_TIMEOUT) -> float | None:
        seconds = super().get_backend_timeout(timeout)
        return MAX_TIMEOUT_SECONDS if seconds is None else min(seconds, MAX_TIMEOUT_SECONDS)

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return _tolerant(
            lambda: super(TolerantRedisCache, self).get(key, default, version), default
        )

    def get_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        return _tolerant(lambda: super(TolerantRedisCache, self).get_many(keys, version), {})

    def has_key(self, key: Any, version: Any = None) -> bool:
        return _tolerant(lambda: super(TolerantRedisCache, self).has_key(key, version), False)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return _tolerant(
            lambda: super(TolerantRedisCache, self).add(key, value, timeout, version), False
        )

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        _tolerant(lambda: super(TolerantRedisCache, self).set(key, value, timeout, version), None)

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        return _tolerant(
            lambda: super(TolerantRedisCache, self).set_many(data, timeout, version), list(data)
        )

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return _tolerant(
            lambda: super(TolerantRedisCache, self).touch(key, timeout, version), False
        )

    def delete(self, key: Any, version: Any = None) -> bool:
        return _tolerant(lambda: super(TolerantRedisCache, self).delete(key, version), False)

    def delete_many(self, keys: Any, version: Any = None) -> None:
        _tolerant(lambda: super(TolerantRedisCache, self).delete_many(keys, version), None)
