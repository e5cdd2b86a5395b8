"""A running search's page in Chromium, served by the production web server (ASGI):
images the worker stores appear without a reload; with the stream blocked the page
falls back to polling; without JavaScript it reloads itself. Each ends on the final
result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User

from tests.factories import make_result
from tests.fixtures.browser import screenshot
from tests.fixtures.processes import web_server
from tests.test_end_to_end_worker import _database_url
from webapp.live.bus import publish
from webapp.search.models import Search

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "watcher-pass-123"


@pytest.fixture
def asgi_server(tmp_path: Path, settings: Any) -> Iterator[str]:
    """scripts/web.sh (gunicorn + uvicorn) on the test database, as production serves."""
    var = tmp_path / "var"
    settings.LIVE_UPDATES_DIR = var / "live"  # the folder transport, shared with the server
    env = {
        "DJANGO_SETTINGS_MODULE": "webapp.settings_test",
        "DATABASE_URL": _database_url(),
        "LOUPE_VAR_DIR": str(var),
        "LIVE_UPDATES_URL": str(django_settings.LIVE_UPDATES_URL),
        "SECRET_KEY": "live-page-test",
        "WEB_CONCURRENCY": "1",
    }
    with web_server(env, tmp_path / "web.log") as (base, _):
        yield base


def _signed_in_page(browser: Any, base: str, **context_options: Any) -> Any:
    User.objects.create_user("watcher", password=PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "watcher")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def _running_search() -> Search:
    """A search a worker has claimed; the test plays the worker."""
    owner = User.objects.get(username="watcher")
    return Search.objects.create(user=owner, query="lion", provider="iqs", status="running")


def _store_results(search: Search, ranks: range) -> None:
    for rank in ranks:
        make_result(search, rank, title=f"Lion number {rank}")
    Search.objects.filter(pk=search.pk).update(result_count=ranks.stop - 1)
    publish(search.pk)


def _finish(search: Search) -> None:
    Search.objects.filter(pk=search.pk).update(status="done", duration_ms=1200)
    publish(search.pk)


def test_images_appear_as_the_worker_stores_them(browser: Any, asgi_server: str) -> None:
    page = _signed_in_page(browser, asgi_server)
    search = _running_search()
    page.goto(f"{asgi_server}/searches/{search.pk}/")
    page.wait_for_function("window.loupeLiveDown === false")  # the stream is open
    assert page.locator("#gallery .card").count() == 0

    _store_results(search, range(1, 4))
    page.wait_for_selector("#gallery .card >> nth=2")
    _store_results(search, range(4, 6))
    page.wait_for_selector("#gallery .card >> nth=4")
    titles = page.locator("#gallery .card .title").all_inner_texts()
    assert titles == [f"Lion number {n}" for n in range(1, 6)]  # in order, none twice
    screenshot(page, "live-running")

    _finish(search)
    page.wait_for_selector("#results[aria-busy=false]")
    assert "5 images" in page.locator("#status-line").inner_text()
    assert page.locator("#results[sse-swap]").count() == 0  # the final partial listens no more
    assert page.locator("#gallery .card").count() == 5


def test_with_the_stream_blocked_the_page_polls_to_the_end(browser: Any, asgi_server: str) -> None:
    page = _signed_in_page(browser, asgi_server)
    page.route("**/live/**", lambda route: route.abort())
    search = _running_search()
    page.goto(f"{asgi_server}/searches/{search.pk}/")
    page.wait_for_timeout(500)
    assert page.evaluate("window.loupeLiveDown") is True
    _store_results(search, range(1, 3))
    _finish(search)
    page.wait_for_selector("#results[aria-busy=false]")
    assert "2 images" in page.locator("#status-line").inner_text()
    assert page.locator("#gallery .card").count() == 2


def test_without_javascript_the_page_reloads_to_the_end(browser: Any, asgi_server: str) -> None:
    page = _signed_in_page(browser, asgi_server)
    search = _running_search()
    no_js = browser.new_context(
        java_script_enabled=False, storage_state=page.context.storage_state()
    )
    quiet = no_js.new_page()
    quiet.goto(f"{asgi_server}/searches/{search.pk}/")
    _store_results(search, range(1, 3))
    _finish(search)
    quiet.wait_for_selector("#results[aria-busy=false]", timeout=15_000)
    assert "2 images" in quiet.locator("#status-line").inner_text()
    assert quiet.locator("#gallery .card").count() == 2
