"""Sessions read through Redis when there is one, and a Redis outage is only a cache miss."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.fixtures.processes import RedisServer
from webapp.cache import MAX_TIMEOUT_SECONDS, TolerantRedisCache


def _cache(url: str) -> TolerantRedisCache:
    return TolerantRedisCache(
        url, {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
    )


def test_an_unreachable_redis_is_a_miss_and_writes_are_skipped(tmp_path: object) -> None:
    down = _cache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert down.get("k", "fallback") == "fallback"
    down.set("k", "v")
    assert down.delete("k") is False
    assert down.get_many(["a", "b"]) == {}
    assert down.has_key("k") is False


@pytest.mark.redis
def test_it_caches_while_redis_is_up_and_caps_how_long(tmp_path: object) -> None:
    server = RedisServer(tmp_path)  # type: ignore[arg-type]
    server.start()
    try:
        cache = _cache(server.url)
        cache.set("session", {"user": 1}, timeout=14 * 24 * 3600)
        assert cache.get("session") == {"user": 1}
        assert cache.get_backend_timeout(14 * 24 * 3600) == MAX_TIMEOUT_SECONDS
        server.kill()
        assert cache.get("session") is None  # down: a miss, not an error
    finally:
        server.kill()


@pytest.mark.django_db
def test_a_signed_in_page_works_with_sessions_cached_in_a_redis_that_is_down(
    owner: object,
) -> None:
    from django.test import Client

    caches = {
        "default": {
            "BACKEND": "webapp.cache.TolerantRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        },
        "pages": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    with override_settings(
        CACHES=caches, SESSION_ENGINE="django.contrib.sessions.backends.cached_db"
    ):
        client = Client()
        client.force_login(owner)  # type: ignore[arg-type]
        assert client.get("/history/").status_code == 200
