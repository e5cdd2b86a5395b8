"""Test settings: only what tests need differs from production."""

from __future__ import annotations

import os

from webapp.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory, so the end-to-end test's worker process can share it;
    # one per test run, so two runs on one machine never share (or delete) it.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(VAR_DIR / f"test-loupe-{os.getpid()}.sqlite3")  # noqa: F405
    }

# Request threads of the live server (browser tests) must not keep connections
# open, or PostgreSQL refuses to drop the test database at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# No connection pool in the test process: the pool keeps connections open after
# Django "closes" them, and PostgreSQL then refuses to drop the test database.
# (The worker and web processes that tests start run webapp.settings, pool and all.)
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
# Sessions in the database alone, with or without Redis: the tests pin query counts,
# and those must not depend on the machine. (tests/web/test_tolerant_cache.py covers
# sessions read through Redis.)
SESSION_ENGINE = "django.contrib.sessions.backends.db"
