"""In headless Chromium: save from the lightbox, open the collection, reorder by
keyboard, share it, open the link in a fresh anonymous browser, revoke, see 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.factories import make_result, make_search
from tests.fixtures.browser import ARTIFACTS
from webapp.collections.models import Collection, ShareLink

pytestmark = pytest.mark.browser


def _sign_in(page: Any, base: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", "reader")
    page.fill("#id_password", "reader-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def _shot(page: Any, name: str, **options: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), **options)


@pytest.mark.django_db(transaction=True)
def test_save_from_the_lightbox_share_and_revoke(browser: Any, live_server: Any) -> None:
    reader = User.objects.create_user("reader", password="reader-pass-123")
    search = make_search(reader, query="lion", status="done", result_count=0)
    for rank, title in enumerate(["Lion at dusk", "Lioness and cubs", "Old male"], start=1):
        make_result(search, rank, title=title, real_size=(1000 + rank, 750))
    base = live_server.url

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())  # the "Revoke the link?" confirmation
    _sign_in(page, base)

    # Save the first image from the lightbox into a new collection.
    page.goto(f"{base}/searches/{search.pk}/")
    page.locator("#gallery .card").nth(0).locator("button.thumb").click()
    lightbox = page.locator("#lightbox")
    assert lightbox.is_visible()
    save = page.locator("#lightbox-save")
    assert save.inner_text() == "☆ Save to…"
    save.click()
    menu = page.locator("#lightbox-save-menu")
    menu.locator("input[name=name]").wait_for()
    assert "no collections yet" in menu.inner_text()
    menu.locator("input[name=name]").fill("Mood board")
    menu.locator("button", has_text="Create and save").click()
    page.wait_for_selector("#lightbox-save-menu .save-menu-message")
    assert "Saved to the new “Mood board”." in menu.inner_text()
    assert save.inner_text() == "★ Saved"
    _shot(page, "collections-lightbox-save.png")
    page.keyboard.press("Escape")  # closes the menu first…
    assert menu.is_hidden() and lightbox.is_visible()
    page.keyboard.press("Escape")  # …then the lightbox
    assert not lightbox.is_visible()
    first_card = page.locator("#gallery .card").nth(0)
    assert first_card.locator(".save-toggle").inner_text() == "★ Saved"

    # Save the third image from its card's own menu, with the keyboard.
    third = page.locator("#gallery .card").nth(2)
    third.locator(".save-toggle").focus()
    page.keyboard.press("Enter")
    choice = third.locator(".save-menu-choice", has_text="Mood board")
    choice.wait_for()
    page.wait_for_function(  # the menu takes the focus once it has loaded
        "document.activeElement && document.activeElement.matches('.save-menu-choice')"
    )
    page.keyboard.press("Enter")
    third.locator(".save-menu-message").wait_for()
    assert third.locator(".save-toggle").inner_text() == "★ Saved"
    _shot(page, "collections-card-menu.png")

    # Open the collection from the navigation.
    page.click("nav.topnav >> text=Collections")
    page.click("text=Mood board")
    cards = page.locator("#gallery .item-card")
    assert cards.count() == 2
    assert [t.strip() for t in page.locator("#gallery .item-card h3").all_inner_texts()] == [
        "Lion at dusk",
        "Old male",
    ]
    # Reorder by keyboard: Alt+↓ on the first card moves it down.
    cards.nth(0).locator("[data-move=down]").focus()
    page.keyboard.press("Alt+ArrowDown")
    page.wait_for_function(
        "document.querySelector('#reorder-status').textContent.includes('place 2')"
    )
    assert [t.strip() for t in page.locator("#gallery .item-card h3").all_inner_texts()] == [
        "Old male",
        "Lion at dusk",
    ]
    assert (
        page.locator("#gallery .item-card")
        .nth(1)
        .locator("[data-move=down]")
        .evaluate("el => el === document.activeElement")
    )
    page.reload()  # the order is kept on the server
    assert page.locator("#gallery .item-card h3").first.inner_text().strip() == "Old male"

    # Share it.
    page.click("text=Create share link")
    url_input = page.locator("#share-url")
    url_input.wait_for()
    share_url = url_input.input_value()
    assert share_url.startswith(f"{base}/shared/")
    _shot(page, "collections-detail.png", full_page=True)

    # A fresh anonymous browser opens the link and sees the gallery, not the owner.
    stranger = browser.new_context(viewport={"width": 380, "height": 800})
    anon = stranger.new_page()
    response = anon.goto(share_url)
    assert response.status == 200
    assert response.headers["x-robots-tag"] == "noindex, nofollow"
    assert "Mood board" in anon.content() and "reader" not in anon.content()
    anon.wait_for_function(
        "Array.from(document.querySelectorAll('#gallery img'))"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert anon.locator("#gallery img").count() == 2
    _shot(anon, "collections-shared-narrow.png", full_page=True)
    anon.locator("#gallery .item-card button.thumb").first.click()
    assert anon.locator("#lightbox").is_visible()
    assert anon.locator("#lightbox-title").inner_text() == "Old male"

    # The owner revokes it; the link now answers 404.
    page.click("text=Revoke link")
    page.locator("text=Create share link").wait_for()
    assert ShareLink.objects.get().revoked_at is not None
    gone = anon.goto(share_url)
    assert gone.status == 404
    assert Collection.objects.get().items.count() == 2
    stranger.close()
    context.close()


@pytest.mark.django_db(transaction=True)
def test_the_collection_page_on_a_narrow_screen(browser: Any, live_server: Any) -> None:
    reader = User.objects.create_user("reader", password="reader-pass-123")
    search = make_search(reader, query="lion", status="done")
    collection = Collection.objects.create(
        user=reader, name="A long collection name for a narrow phone screen"
    )
    from webapp.collections.services import collection_add_result

    for rank in range(1, 4):
        collection_add_result(collection=collection, result=make_result(search, rank))
    context = browser.new_context(viewport={"width": 380, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    _sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/collections/{collection.pk}/")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    _shot(page, "collections-narrow.png", full_page=True)
    page.goto(f"{live_server.url}/collections/")
    _shot(page, "collections-index-narrow.png", full_page=True)
    page.goto(f"{live_server.url}/searches/{search.pk}/")
    page.locator("#gallery .card").nth(0).locator(".save-toggle").click()
    page.locator("#gallery .card").nth(0).locator(".save-menu-choice").wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the search page scrolls sideways by {overflow}px"
    _shot(page, "collections-search-menu-narrow.png", full_page=False)
    context.close()


@pytest.mark.django_db(transaction=True)
def test_a_saved_search_shows_what_is_new(browser: Any, live_server: Any) -> None:
    from webapp.collections.models import SavedSearchRun
    from webapp.collections.services import saved_search_create
    from webapp.search.models import Thumbnail

    reader = User.objects.create_user("reader", password="reader-pass-123")
    before = make_search(reader, query="lion", status="done")
    saved = saved_search_create(user=reader, search=before, name="Lions, weekly")
    for rank in (1, 2):
        make_result(before, rank, title=f"Old {rank}")
    after = make_search(reader, query="lion", status="done")
    SavedSearchRun.objects.create(saved_search=saved, search=after, trigger="schedule")
    same = Thumbnail.objects.get(image_url__endswith=f"/{before.pk}/1.jpg")
    after.results.create(rank=1, title="Old 1", image_url=same.image_url, thumbnail=same)
    make_result(after, 2, title="Fresh one")

    context = browser.new_context(viewport={"width": 1024, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    _sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/saved-searches/{saved.pk}/")
    summary = page.locator(".change-summary").inner_text()
    assert "1 new" in summary and "1 result disappeared" in summary
    badge = page.locator("#gallery .card", has_text="Fresh one").locator(".new-badge")
    assert badge.is_visible()
    assert page.locator("#gallery .new-badge").count() == 1
    page.click("text=Show what disappeared")
    assert page.locator(".disappeared li", has_text="Old 2").is_visible()
    _shot(page, "collections-saved-search.png", full_page=True)
    context.close()
