"""The compact "search again" form on a search's page: which provider it offers first."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from tests.factories import make_result, make_search

LIBRARY_SELECTED = '<option value="library" selected>'


def test_a_library_search_is_searched_again_in_the_library(
    owner_client: Client, owner: User
) -> None:
    search = make_search(owner, status="done", provider="library", query="rocket")
    make_result(search, 1, title="Rocket", host_page_url="/library/items/1/", score=0.8)

    html = owner_client.get(f"/searches/{search.pk}/").content.decode()

    assert LIBRARY_SELECTED in html
    assert 'value="rocket"' in html


def test_a_web_search_is_searched_again_automatically(owner_client: Client, owner: User) -> None:
    search = make_search(owner, status="done", provider="iqs")

    html = owner_client.get(f"/searches/{search.pk}/").content.decode()

    assert LIBRARY_SELECTED not in html
    assert '<option value="" selected>' not in html  # "Automatic" is simply the first option
    assert '<option value="iqs" selected>' not in html
