from __future__ import annotations

import pytest


@pytest.fixture
def thumbnail_tasks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record collection IDs sent to the thumbnail task instead of sending them."""
    from webapp.collections import tasks

    sent: list[int] = []
    monkeypatch.setattr(
        tasks.fetch_collection_thumbnails, "delay", lambda collection_id: sent.append(collection_id)
    )
    return sent
