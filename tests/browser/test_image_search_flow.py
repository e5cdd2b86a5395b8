"""Search by image in headless Chromium: upload a file, watch images and the model's
answer arrive while the provider streams, then start "Search similar" from a result."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from tests.browser.test_search_flow import ARTIFACTS, page  # noqa: F401 (fixture)
from tests.search.test_image_upload import jpeg_bytes
from webapp.search import tasks
from webapp.search.services import search_run


@pytest.fixture
def background_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[threading.Thread]]:
    """Run each queued search in a thread, as a worker would, so the page can watch it.

    (The Celery worker path itself is covered by test_end_to_end_worker.py.)
    """
    threads: list[threading.Thread] = []

    def run_in_thread(search_id: int) -> None:
        def work() -> None:
            try:
                search_run(search_id=search_id)
            finally:
                connection.close()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        threads.append(thread)

    monkeypatch.setattr(tasks.run_search, "delay", run_in_thread)
    yield threads
    for thread in threads:
        thread.join(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_upload_watch_results_arrive_and_search_similar(
    page: Any,  # noqa: F811
    live_server: Any,
    emulator: Any,
    settings: Any,
    background_worker: list[threading.Thread],
    tmp_path: Path,
) -> None:
    User.objects.create_user("reader", password="reader-pass-123")
    settings.DASHSCOPE_EFFECTIVE_BASE_URL = f"{emulator.url}/compatible-mode/v1"
    settings.DASHSCOPE_EMULATED = True
    settings.FETCH_PRIVATE_ALLOWLIST = frozenset({("127.0.0.1", emulator.port)})
    emulator.set_pacing(4)  # slow enough that the 1 s polling sees the stream in progress
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(jpeg_bytes((1200, 900)))
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "reader")
    page.fill("#id_password", "reader-pass-123")
    page.click("button[type=submit]")

    page.set_input_files("#id_image", str(photo))
    assert page.locator("[data-image-preview]").is_visible()
    page.fill("#id_query", "find landscapes in this style")
    page.screenshot(path=str(ARTIFACTS / "image-search-form.png"))
    page.click("button.primary")

    # While the provider is still streaming, stages and first images show.
    page.wait_for_function(
        "document.querySelector('#results')?.getAttribute('aria-busy') === 'true'"
        " && /found|writing|Searching|Sent/.test(document.querySelector('.status-line').innerText)"
    )
    page.screenshot(path=str(ARTIFACTS / "image-search-streaming.png"))
    page.wait_for_selector("#results[aria-busy=false]", timeout=30_000)
    page.wait_for_selector("#gallery .card img")
    assert page.locator(".answer-text").inner_text().strip()
    assert "Qwen image search (offline emulator)" in page.content()
    first = page.locator("#gallery .card").nth(0)
    assert "image host" in first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "image-search-done.png"), full_page=True)

    first.get_by_role("button", name="Search similar").click()
    page.wait_for_url("**/searches/*/")
    page.wait_for_selector("#results[aria-busy=false]", timeout=30_000)
    assert "Images like this" in page.locator("h1").inner_text()
    assert page.locator("#gallery .card").count() > 0
    emulator.set_pacing(1)
