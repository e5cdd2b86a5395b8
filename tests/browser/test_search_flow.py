"""A person's main flow in headless Chromium: sign in, search, see the gallery,
open the lightbox, move with the arrow keys, close with Esc."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import ARTIFACTS
from webapp.celery import app as celery_app


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Run the search task inside the request, so this test needs no worker.

    The real worker path is covered by test_end_to_end_worker.py; this test is
    about what a person sees.
    """
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.mark.django_db(transaction=True)
def test_sign_in_search_and_browse_the_gallery(
    page: Any, live_server: Any, emulator: Any, settings: Any, eager_tasks: None
) -> None:
    User.objects.create_user("reader", password="reader-pass-123")
    settings.IQS_EFFECTIVE_BASE_URL = emulator.url
    settings.IQS_EMULATED = True
    settings.FETCH_PRIVATE_ALLOWLIST = frozenset({("127.0.0.1", emulator.port)})
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(live_server.url + "/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "reader")
    page.fill("#id_password", "reader-pass-123")
    page.click("button[type=submit]")

    page.fill("#id_query", "lion")
    page.select_option("#id_provider", "iqs")
    page.keyboard.press("Enter")
    page.wait_for_selector("#gallery .card img")
    page.screenshot(path=str(ARTIFACTS / "gallery.png"), full_page=False)

    cards = page.locator("#gallery .card")
    assert cards.count() == 20
    first = cards.nth(0)
    assert "A lion's life of battle" in first.locator(".title").inner_text()
    assert first.locator(".dims").inner_text() == "720 × 1280"
    source = first.locator("a.source")
    assert source.inner_text() == "quanmin.baidu.com"
    assert source.get_attribute("rel") == "noopener noreferrer"
    assert "IQS (offline emulator)" in page.content()

    first.locator("button.thumb").click()
    dialog = page.locator("#lightbox")
    assert dialog.is_visible()
    assert "A lion's life of battle" in page.locator("#lightbox-title").inner_text()
    page.screenshot(path=str(ARTIFACTS / "lightbox.png"))
    page.keyboard.press("ArrowRight")
    assert "Good fortune" in page.locator("#lightbox-title").inner_text()
    page.keyboard.press("ArrowLeft")
    assert "A lion's life of battle" in page.locator("#lightbox-title").inner_text()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()


@pytest.mark.django_db(transaction=True)
def test_a_bad_query_shows_a_form_error_on_a_narrow_screen(
    page: Any, live_server: Any, eager_tasks: None
) -> None:
    User.objects.create_user("reader", password="reader-pass-123")
    page.set_viewport_size({"width": 380, "height": 800})
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "reader")
    page.fill("#id_password", "reader-pass-123")
    page.click("button[type=submit]")
    page.fill("#id_query", "   ")
    page.keyboard.press("Enter")
    error = page.locator("#query-error")
    error.wait_for()
    assert "Type something" in error.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "narrow-error.png"), full_page=True)
