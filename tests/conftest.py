"""Shared fixtures. Each group lives in its own module under tests/fixtures/."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.users",
    "tests.fixtures.emulator",
    "tests.fixtures.browser",
    "tests.fixtures.embeddings",
]
