from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from tests.factories import make_result, make_search


def _url(pk: int) -> str:
    return f"/searches/{pk}/"


def test_the_owner_sees_titles_sizes_dates_and_source_links(
    owner_client: Client, owner: User
) -> None:
    search = make_search(owner, status="done")
    make_result(
        search,
        1,
        title="A lion at dusk",
        width=1000,
        height=1330,
        real_size=(1000, 1330),
        host_page_url="https://www.sohu.com/a/1",
    )
    html = owner_client.get(_url(search.pk)).content.decode()
    assert "A lion at dusk" in html
    assert "1000 × 1330" in html
    assert "12 Apr 2025" in html
    assert 'href="https://www.sohu.com/a/1" rel="noopener noreferrer"' in html
    assert ">sohu.com</a>" in html


def test_the_gallery_never_hotlinks_the_original(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    result = make_result(search, 1)
    html = owner_client.get(_url(search.pk)).content.decode()
    assert f'src="{result.image_url}"' not in html
    assert f'src="/thumbs/{result.thumbnail.url_hash}.jpg"' in html  # type: ignore[union-attr]


def test_real_pixel_size_wins_over_the_reported_one(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1, width=100, height=100, real_size=(1280, 720))
    html = owner_client.get(_url(search.pk)).content.decode()
    assert "1280 × 720" in html
    assert "100 × 100" not in html


def test_dead_images_are_shown_as_unavailable(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1, thumb_state="unavailable")
    html = owner_client.get(_url(search.pk)).content.decode()
    assert "Image unavailable" in html
    assert "<img src" not in html


def test_a_running_search_listens_and_polls_only_while_the_stream_is_down(
    owner_client: Client, owner: User
) -> None:
    search = make_search(owner, status="running")
    response = owner_client.get(_url(search.pk), headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'sse-swap="results,done"' in html
    assert 'hx-trigger="every 2s [window.loupeLiveDown' in html
    # An open "Save to…" menu pauses the refresh, so it is not swapped away.
    assert ".save-menu:not([hidden])" in html


def test_a_finished_search_stops_polling(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1)
    response = owner_client.get(_url(search.pk), headers={"HX-Request": "true"})
    assert response.status_code == 286
    assert "every 2s" not in response.content.decode()
    assert "sse-swap" not in response.content.decode()
    assert "<html" not in response.content.decode()  # the partial, not the page


def test_a_failed_search_shows_the_sentence_and_code(owner_client: Client, owner: User) -> None:
    search = make_search(
        owner,
        status="failed",
        error_code="Retrieval.Arrears",
        error_message=(
            "The IQS account has an overdue balance; top it up in the Alibaba Cloud console."
        ),
    )
    html = owner_client.get(_url(search.pk)).content.decode()
    assert "overdue balance; top it up in the Alibaba Cloud console." in html
    assert "Retrieval.Arrears" in html
    assert "Run again" in html


def test_an_empty_result_is_a_designed_state(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    assert "No images found" in owner_client.get(_url(search.pk)).content.decode()


def test_the_page_shows_the_query_sent_when_it_was_rewritten(
    owner_client: Client, owner: User
) -> None:
    search = make_search(
        owner,
        query="please show me pictures of a lion resting in grass",
        query_sent="lion resting grass",
        status="done",
    )
    html = owner_client.get(_url(search.pk)).content.decode()
    assert "please show me pictures of a lion resting in grass" in html
    assert "Sent as “<strong>lion resting grass</strong>”" in html


def test_filters_by_orientation_and_hidden_site(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1, title="Wide one", real_size=(1600, 900), host_page_url="https://a.com/1")
    make_result(search, 2, title="Tall one", real_size=(900, 1600), host_page_url="https://b.com/2")
    make_result(search, 3, title="Wide two", real_size=(1200, 800), host_page_url="https://b.com/3")
    html = owner_client.get(
        _url(search.pk), {"orientation": "landscape", "hide_site": "a.com"}
    ).content.decode()
    assert "Wide two" in html
    assert "Wide one" not in html
    assert "Tall one" not in html


def test_sorting_by_size_puts_the_largest_first(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done")
    make_result(search, 1, title="Small", real_size=(300, 200))
    make_result(search, 2, title="Big", real_size=(3000, 2000))
    html = owner_client.get(_url(search.pk), {"sort": "size"}).content.decode()
    assert html.index("Big") < html.index("Small")


def test_a_stranger_gets_404(stranger_client: Client, owner: User) -> None:
    search = make_search(owner)
    assert stranger_client.get(_url(search.pk)).status_code == 404


def test_anonymous_is_sent_to_login(anon_client: Client, owner: User) -> None:
    search = make_search(owner)
    response = anon_client.get(_url(search.pk))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_post_is_not_allowed(owner_client: Client, owner: User) -> None:
    search = make_search(owner)
    assert owner_client.post(_url(search.pk)).status_code == 405
