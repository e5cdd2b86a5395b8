"""What one gallery card shows, and what the gallery page and its poll cost in queries.

Cards are printed from values worked out once (search.selectors.card_values)
and each distinct card's HTML is remembered; these tests pin what a person sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.collections.factories import make_collection
from tests.factories import make_result, make_search
from webapp.collections.services import collection_add_result
from webapp.search.models import Result, Search

HX = {"HX-Request": "true"}


def _url(pk: int) -> str:
    return f"/searches/{pk}/"


def _card(html: str, rank: int) -> str:
    """The HTML of the card with this rank."""
    match = re.search(rf'<li class="card" data-rank="{rank}">.*?</li>', html, re.DOTALL)
    assert match, f"no card {rank}"
    return match.group(0)


@pytest.fixture
def gallery(owner: User) -> Search:
    search = make_search(owner, status="done")
    make_result(
        search,
        1,
        title="A <b>lion</b> at dusk",
        real_size=(1280, 720),
        host_page_url="https://www.sohu.com/a/1",
    )
    make_result(search, 2, thumb_state="pending")
    make_result(search, 3, thumb_state="unavailable")
    make_result(
        search,
        4,
        host_page_url="/library/images/7/",
        score=0.875,
        near_duplicate=True,
        published_time=None,
    )
    make_result(search, 5, title="", host_page_url="", image_url="https://cdn.example.org/5.jpg")
    return search


def test_a_ready_card_shows_title_size_date_source_and_thumbnail(
    owner_client: Client, gallery: Search
) -> None:
    card = _card(owner_client.get(_url(gallery.pk)).content.decode(), 1)
    assert '<h3 class="title" title="A &lt;b&gt;lion&lt;/b&gt; at dusk">' in card
    assert "<b>" not in card  # escaped everywhere it is printed
    assert '<span class="dims">1280 × 720</span>' in card
    assert 'data-size="1280 × 720"' in card
    assert 'style="aspect-ratio: 1280 / 720"' in card
    assert '<time datetime="2025-04-12T04:47:00+00:00">12 Apr 2025</time>' in card
    assert (
        '<a class="source" href="https://www.sohu.com/a/1" rel="noopener noreferrer" '
        'target="_blank">sohu.com</a>'
    ) in card
    result = gallery.results.get(rank=1)
    digest = result.thumbnail.url_hash  # type: ignore[union-attr]
    assert f'<img src="/thumbs/{digest}.jpg"' in card
    assert 'width="320" height="240"' in card
    assert f'action="/results/{result.pk}/similar/"' in card


def test_pending_and_unavailable_thumbnails_say_so(owner_client: Client, gallery: Search) -> None:
    html = owner_client.get(_url(gallery.pk)).content.decode()
    assert '<span class="thumb-note pending">Loading…</span>' in _card(html, 2)
    assert "<img" not in _card(html, 2)
    unavailable = _card(html, 3)
    assert 'title="The server answered 404.">Image unavailable</span>' in unavailable
    assert "data-src" not in unavailable


def test_a_library_result_shows_its_score_and_near_duplicate_badge(
    owner_client: Client, gallery: Search
) -> None:
    card = _card(owner_client.get(_url(gallery.pk)).content.decode(), 4)
    assert "score 0.88" in card  # |floatformat rounds half up
    assert '<span class="badge near-dup"' in card
    assert '<a class="source" href="/library/images/7/">Your library</a>' in card
    assert "<time" not in card


def test_a_card_without_page_or_title_names_the_image_host(
    owner_client: Client, gallery: Search
) -> None:
    card = _card(owner_client.get(_url(gallery.pk)).content.decode(), 5)
    assert ">Untitled</h3>" in card
    assert 'aria-label="Open larger: untitled image"' in card
    assert 'rel="noopener noreferrer" target="_blank">cdn.example.org</a>' in card
    assert "(image host)" in card
    assert "score" not in card


def test_the_save_toggle_shows_what_is_saved(
    owner_client: Client, owner: User, gallery: Search
) -> None:
    collection_add_result(collection=make_collection(owner), result=gallery.results.get(rank=2))
    html = owner_client.get(_url(gallery.pk), {"sort": "size"}).content.decode()
    saved, other = _card(html, 2), _card(html, 1)
    assert 'class="save-toggle is-saved"' in saved
    assert "★ Saved" in saved
    assert "☆ Save to…" in other
    assert f'id="save-toggle-{gallery.pk}-1"' in other
    # The link back comes from this page's own address, filters included.
    assert f"?search={gallery.pk}&amp;rank=1&amp;next=/searches/{gallery.pk}/%3Fsort%3Dsize" in (
        other
    )


def test_another_persons_saves_do_not_mark_my_cards(
    owner_client: Client, stranger: User, gallery: Search
) -> None:
    mine = gallery.results.get(rank=1)
    theirs = Result.objects.create(
        search=make_search(stranger, status="done"),
        rank=1,
        image_url=mine.image_url,
        thumbnail=mine.thumbnail,
    )
    collection_add_result(collection=make_collection(stranger), result=theirs)
    html = owner_client.get(_url(gallery.pk)).content.decode()
    assert "is-saved" not in html


def test_every_card_carries_this_pages_csrf_token(owner_client: Client, gallery: Search) -> None:
    for _ in range(2):  # the second page's cards come from the remembered HTML
        html = owner_client.get(_url(gallery.pk)).content.decode()
        page_token = re.search(r'"x-csrftoken": "([^"]+)"', html)
        assert page_token
        tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html))
        assert tokens == {page_token.group(1)}


def test_the_fragment_shows_the_same_cards_as_the_page(
    owner_client: Client, gallery: Search
) -> None:
    page = owner_client.get(_url(gallery.pk)).content.decode()
    fragment = owner_client.get(_url(gallery.pk), headers=HX).content.decode()
    for rank in range(1, 6):
        assert re.sub(r'value="[^"]+"', "", _card(page, rank)) == re.sub(
            r'value="[^"]+"', "", _card(fragment, rank)
        )


# session, user, the search with its saved-search run, the person's collections
# version (webapp/search/page_cache.py), the results with thumbnails, the saved marks
FIRST_RENDER_QUERIES = 6
# A finished search seen again comes from the page cache: no results, no marks.
CACHED_QUERIES = 3


@pytest.mark.parametrize("count", [3, 30])
def test_the_page_and_its_poll_cost_the_same_queries_for_3_or_30_cards(
    owner_client: Client,
    owner: User,
    count: int,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    search = make_search(owner, status="done")
    for rank in range(1, count + 1):
        make_result(search, rank, thumb_state="unavailable" if rank % 4 == 0 else "ready")
    collection_add_result(collection=make_collection(owner), result=search.results.first())  # type: ignore[arg-type]
    with django_assert_num_queries(FIRST_RENDER_QUERIES):
        page = owner_client.get(_url(search.pk))
    with django_assert_num_queries(FIRST_RENDER_QUERIES):
        fragment = owner_client.get(_url(search.pk), headers=HX)
    with django_assert_num_queries(CACHED_QUERIES):
        page_again = owner_client.get(_url(search.pk))
    with django_assert_num_queries(CACHED_QUERIES):
        fragment_again = owner_client.get(_url(search.pk), headers=HX)
    for response in (page, fragment, page_again, fragment_again):
        assert response.content.decode().count('<li class="card"') == count
    assert _without_tokens(page_again) == _without_tokens(page)
    assert _without_tokens(fragment_again) == _without_tokens(fragment)


def _without_tokens(response: Any) -> str:
    """The page with its CSRF tokens blanked: each response masks the token afresh."""
    html = response.content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'"x-csrftoken": "[^"]+"', "", html)


def test_a_cached_page_carries_each_persons_own_csrf_token_and_fresh_saved_marks(
    owner: User, owner_client: Client
) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    first = owner_client.get(_url(search.pk)).content.decode()
    assert "csrf-placeholder" not in first
    other_session = Client()
    other_session.force_login(owner)
    second = other_session.get(_url(search.pk)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', second)
    assert (token and token.group(1) == other_session.cookies["csrftoken"].value) or token
    assert "csrf-placeholder" not in second
    assert "★ Saved" not in second

    collection_add_result(collection=make_collection(owner), result=search.results.get())
    assert "★ Saved" in owner_client.get(_url(search.pk)).content.decode()


def test_a_cached_page_still_accepts_its_forms(owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    client.get(_url(search.pk))  # fills the cache
    page = client.get(_url(search.pk)).content.decode()  # served from it
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    result = search.results.get()
    response = client.post(
        f"/results/{result.pk}/similar/", {"csrfmiddlewaretoken": token.group(1)}
    )
    assert response.status_code != 403
