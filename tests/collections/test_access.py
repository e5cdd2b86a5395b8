"""Every collections page: a stranger gets 404, anonymous is sent to sign in, and a
wrong method gets 405. (What the owner sees is tested view by view.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.collections.factories import make_collection, make_items
from tests.factories import make_search
from webapp.collections.models import Collection, SavedSearch
from webapp.collections.services import saved_search_create

Urls = dict[str, str]


@pytest.fixture
def urls(owner: User) -> Urls:
    collection = make_collection(owner)
    item = make_items(collection, 1)[0]
    search = item.source_search
    assert search is not None
    saved = saved_search_create(user=owner, search=make_search(owner, status="done"), name="S")
    c, i, s = collection.pk, item.pk, saved.pk
    return {
        "detail": f"/collections/{c}/",
        "edit": f"/collections/{c}/edit/",
        "delete": f"/collections/{c}/delete/",
        "save": f"/collections/{c}/save/",
        "share": f"/collections/{c}/share/",
        "unshare": f"/collections/{c}/share/revoke/",
        "export": f"/collections/{c}/export/?format=json",
        "note": f"/collections/{c}/items/{i}/note/",
        "move": f"/collections/{c}/items/{i}/move/",
        "remove": f"/collections/{c}/items/{i}/remove/",
        "save_menu": f"/collections/save/?search={search.pk}&rank=1",
        "save_new": "/collections/save/new/",
        "saved_search": f"/saved-searches/{s}/",
        "saved_search_edit": f"/saved-searches/{s}/edit/",
        "saved_search_run": f"/saved-searches/{s}/run/",
        "saved_search_delete": f"/saved-searches/{s}/delete/",
        "saved_search_new": f"/saved-searches/new/?search={search.pk}",
        "search_export": f"/searches/{search.pk}/export/?format=csv",
    }


# (name, method the view answers, a method it refuses)
OWNED = [
    ("detail", "get", "post"),
    ("edit", "post", "get"),
    ("delete", "post", "put"),
    ("save", "post", "get"),
    ("share", "post", "get"),
    ("unshare", "post", "get"),
    ("export", "get", "post"),
    ("note", "post", "get"),
    ("move", "post", "get"),
    ("remove", "post", "get"),
    ("save_menu", "get", "post"),
    ("save_new", "post", "get"),
    ("saved_search", "get", "post"),
    ("saved_search_edit", "post", "get"),
    ("saved_search_run", "post", "get"),
    ("saved_search_delete", "post", "get"),
    ("saved_search_new", "get", "delete"),
    ("search_export", "get", "post"),
]
UNOWNED = [  # pages of one's own, with no object in the URL
    ("/collections/", "get", "post"),
    ("/collections/new/", "post", "get"),
    ("/collections/import/", "get", "put"),
    ("/saved-searches/", "get", "post"),
]


def _call(client: Client, method: str, url: str) -> int:
    call: Callable[..., object] = getattr(client, method)
    data = {"search": "1", "rank": "1", "name": "x", "note": "n", "direction": "up"}
    response = call(url, data) if method == "post" else call(url)
    return response.status_code  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "method", "_wrong"), OWNED)
def test_a_stranger_gets_404(
    stranger_client: Client, urls: Urls, name: str, method: str, _wrong: str
) -> None:
    assert _call(stranger_client, method, urls[name]) == 404
    assert Collection.objects.get().items.count() == 1  # nothing changed
    assert SavedSearch.objects.count() == 1


@pytest.mark.parametrize(("name", "method", "_wrong"), OWNED)
def test_anonymous_is_sent_to_sign_in(
    anon_client: Client, urls: Urls, name: str, method: str, _wrong: str
) -> None:
    response = getattr(anon_client, method)(urls[name])
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(("name", "_method", "wrong"), OWNED)
def test_the_wrong_method_gets_405(
    owner_client: Client, urls: Urls, name: str, _method: str, wrong: str
) -> None:
    assert _call(owner_client, wrong, urls[name]) == 405


@pytest.mark.parametrize(("url", "method", "wrong"), UNOWNED)
def test_own_pages_need_sign_in_and_the_right_method(
    anon_client: Client, owner_client: Client, url: str, method: str, wrong: str
) -> None:
    response = getattr(anon_client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert _call(owner_client, wrong, url) == 405
