"""Search by image in headless Chromium: upload a file, watch images and the model's
answer arrive while the provider streams, then start "Search similar" from a result."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import ARTIFACTS
from tests.search.test_image_upload import jpeg_bytes


@pytest.mark.django_db(transaction=True)
def test_upload_watch_results_arrive_and_search_similar(
    page: Any,
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
    page.select_option("#id_provider", "image_search")
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
