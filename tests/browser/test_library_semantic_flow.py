"""The library page with an embedding backend (the emulated OpenSearch one), in headless
Chromium: the backend is named and labelled as emulated, a word that is in no title
("red") finds the red picture by meaning, and the card shows the meaning score.
Also at 380 px wide."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import ARTIFACTS
from tests.library.conftest import import_paths, write_image
from webapp.emulator import EmulatorHandle
from webapp.library.selectors import library_index_reset


@pytest.mark.django_db(transaction=True)
def test_a_word_in_no_title_finds_a_picture_by_meaning(
    page: Any, live_server: Any, opensearch_backend: EmulatorHandle, tmp_path: Path
) -> None:
    library_index_reset()  # the live server's threads share this process's index
    folder = tmp_path / "set"
    for name, colour, title in [
        ("p1", (220, 30, 30), "Garden flower"),
        ("p2", (30, 60, 220), "Evening sea"),
        ("p3", (128, 128, 128), "Stone wall"),
    ]:
        write_image(folder / f"{name}.jpg", colour, size=(160, 120))
        (folder / f"{name}.txt").write_text(title)
    import_paths(folder)
    User.objects.create_user("reader", password="reader-pass-123")
    page.goto(live_server.url + "/accounts/login/?next=/library/")
    page.fill("#id_username", "reader")
    page.fill("#id_password", "reader-pass-123")
    page.click("button[type=submit]")
    page.wait_for_selector("#id_q")

    note = page.locator(".library-embedding")
    assert "OpenSearch ops-m2-encoder (offline emulator)" in note.inner_text()
    assert "3 of 3 images embedded" in note.inner_text()
    page.fill("#id_q", "red")
    page.keyboard.press("Enter")
    page.wait_for_selector(".library-results .gallery .card")

    first = page.locator(".library-results .card").nth(0)
    assert first.locator(".title").inner_text() == "Garden flower"
    meaning = first.locator(".semantic-score").inner_text()
    assert meaning.startswith("Meaning ") and float(meaning.split()[1]) > 0.9
    assert "words, pictures and meaning" in page.locator("[role=status]").inner_text()
    page.screenshot(path=str(ARTIFACTS / "library-semantic.png"), full_page=True)

    page.set_viewport_size({"width": 380, "height": 800})
    page.reload()
    page.wait_for_selector(".library-results .card")
    assert page.evaluate("document.documentElement.scrollWidth") <= 380
    page.screenshot(path=str(ARTIFACTS / "library-semantic-380.png"), full_page=True)
    library_index_reset()
