"""The local library in headless Chromium, through the main search form: by text
("rocket"), then by uploading a resized, recompressed copy of a demo picture,
which comes first and is marked as a near-duplicate. Also at 380 px wide."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from tests.fixtures.browser import ARTIFACTS
from tests.library.conftest import jpeg_bytes, sample_image
from webapp.library.selectors import library_index_reset
from webapp.search.models import Search


@pytest.fixture
def demo_library(transactional_db: None) -> Iterator[None]:
    library_index_reset()  # the live server's threads share this process's index
    call_command("library_demo", verbosity=0)
    yield
    library_index_reset()


def sign_in(page: Any, live_server: Any) -> None:
    User.objects.create_user("reader", password="reader-pass-123")
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "reader")
    page.fill("#id_password", "reader-pass-123")
    page.click("button[type=submit]")
    page.wait_for_selector("#id_query")


def wait_for_gallery(page: Any) -> Any:
    page.wait_for_url("**/searches/*/")
    page.wait_for_selector("#results[aria-busy=false]", timeout=30_000)
    page.wait_for_selector("#gallery .card img")
    return page.locator("#gallery .card")


@pytest.mark.django_db(transaction=True)
def test_search_the_library_by_text_and_by_an_uploaded_copy(
    page: Any,
    live_server: Any,
    settings: Any,
    demo_library: None,
    background_worker: list[threading.Thread],
    tmp_path: Path,
) -> None:
    settings.IQS_EMULATED = True  # no keys: the form offers the library first
    settings.DASHSCOPE_EMULATED = True
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, live_server)

    # By text, with the library chosen in the form (it is also the default here).
    assert page.locator("#id_provider option:checked").inner_text() == "Local library"
    page.select_option("#id_provider", "library")
    page.fill("#id_query", "rocket")
    page.keyboard.press("Enter")
    cards = wait_for_gallery(page)
    first = cards.nth(0)
    assert "Rocket" in first.locator(".title").inner_text()
    score = first.locator(".score").inner_text()
    assert score.startswith("score 0.") or score == "score 1.00"
    assert first.locator("a.source").inner_text() == "Your library"
    assert "Local library" in page.locator(".search-summary").inner_text()
    assert "offline emulator" not in page.locator(".search-summary").inner_text()
    # Searching again from here stays in the library.
    assert page.locator("#id_provider option:checked").inner_text() == "Local library"
    actions = first.locator(".card-actions")
    similar = actions.get_by_role("button", name="Search similar").bounding_box()
    source = first.locator("a.source").bounding_box()
    assert similar is not None and source is not None
    assert abs(similar["x"] - source["x"]) < 1  # the actions line up with the text above
    page.screenshot(path=str(ARTIFACTS / "library-text.png"), full_page=True)

    # By image: a smaller, heavily recompressed copy of the coffee picture.
    copy = tmp_path / "my-coffee.jpg"
    copy.write_bytes(jpeg_bytes(sample_image("coffee.png").resize((300, 200)), quality=40))
    page.goto(live_server.url + "/")
    page.select_option("#id_provider", "library")
    page.set_input_files("#id_image", str(copy))
    assert page.locator("[data-image-preview]").is_visible()
    page.click("button.primary")
    cards = wait_for_gallery(page)
    first = cards.nth(0)
    assert "coffee" in first.locator(".title").inner_text().lower()
    assert first.locator(".badge.near-dup").inner_text() == "near-duplicate"
    assert first.locator(".score").is_visible()
    assert "Images like this" in page.locator("h1").inner_text()
    search = Search.objects.latest("pk")
    assert search.provider == "library"
    assert search.results.order_by("rank").first().near_duplicate is True  # type: ignore[union-attr]
    page.screenshot(path=str(ARTIFACTS / "library-upload.png"), full_page=True)

    # A narrow phone screen: cards, score and badge must stay readable.
    page.set_viewport_size({"width": 380, "height": 800})
    page.reload()
    page.wait_for_selector("#gallery .card img")
    first = page.locator("#gallery .card").nth(0)
    box = first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 380
    badge = first.locator(".badge.near-dup").bounding_box()
    assert badge is not None and badge["x"] + badge["width"] <= box["x"] + box["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 380
    page.screenshot(path=str(ARTIFACTS / "library-upload-380.png"), full_page=True)
    first.screenshot(path=str(ARTIFACTS / "library-card-380.png"))
