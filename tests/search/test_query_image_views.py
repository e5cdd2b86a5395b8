from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.factories import make_result, make_search
from tests.search.test_image_upload import jpeg_bytes
from webapp.search.models import Search
from webapp.search.query_images import provider_reference, signed_public_url


def _image_search(client: Client) -> Search:
    upload = SimpleUploadedFile("p.jpg", jpeg_bytes(), content_type="image/jpeg")
    client.post("/searches/", {"image": upload})
    return Search.objects.get()


def test_the_owner_sees_the_query_image_and_its_preview(
    owner_client: Client, queued_tasks: list[int]
) -> None:
    search = _image_search(owner_client)
    for size in ("preview", "full"):
        response = owner_client.get(f"/searches/{search.pk}/image/{size}/")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
    assert owner_client.get(f"/searches/{search.pk}/image/huge/").status_code == 404


def test_history_and_detail_show_the_query_image(
    owner_client: Client, queued_tasks: list[int]
) -> None:
    search = _image_search(owner_client)
    preview = f"/searches/{search.pk}/image/preview/"
    assert preview in owner_client.get("/history/").content.decode()
    assert preview in owner_client.get(f"/searches/{search.pk}/").content.decode()


def test_a_stranger_cannot_see_the_query_image(
    owner_client: Client, stranger_client: Client, queued_tasks: list[int]
) -> None:
    search = _image_search(owner_client)
    assert stranger_client.get(f"/searches/{search.pk}/image/full/").status_code == 404


def test_anonymous_is_sent_to_login_for_the_query_image(
    owner_client: Client, anon_client: Client, queued_tasks: list[int]
) -> None:
    search = _image_search(owner_client)
    assert anon_client.get(f"/searches/{search.pk}/image/full/").status_code == 302


def test_the_query_image_refuses_post(owner_client: Client, queued_tasks: list[int]) -> None:
    search = _image_search(owner_client)
    assert owner_client.post(f"/searches/{search.pk}/image/full/").status_code == 405


def test_by_default_the_image_goes_inline_as_a_data_url(
    owner_client: Client, queued_tasks: list[int], settings: Any
) -> None:
    settings.PUBLIC_BASE_URL = ""
    search = _image_search(owner_client)
    assert provider_reference(search.query_image).startswith("data:image/jpeg;base64,/9j/")


def test_with_a_public_base_url_it_goes_as_a_signed_link(
    owner_client: Client, anon_client: Client, queued_tasks: list[int], settings: Any
) -> None:
    settings.PUBLIC_BASE_URL = "https://loupe.example.com"
    search = _image_search(owner_client)
    url = provider_reference(search.query_image)
    assert url.startswith("https://loupe.example.com/q/")
    path = url.removeprefix("https://loupe.example.com")
    response = anon_client.get(path)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"  # type: ignore[attr-defined]
    assert anon_client.post(path).status_code == 405


def test_a_forged_or_expired_link_is_404(
    owner_client: Client,
    anon_client: Client,
    queued_tasks: list[int],
    settings: Any,
    monkeypatch: Any,
) -> None:
    settings.PUBLIC_BASE_URL = "https://loupe.example.com"
    search = _image_search(owner_client)
    path = signed_public_url(search.query_image).removeprefix("https://loupe.example.com")
    assert anon_client.get(path[:-3] + "xyz/").status_code == 404
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + settings.UPLOAD_URL_MAX_AGE_SECONDS + 5)
    assert anon_client.get(path).status_code == 404


def test_search_similar_starts_an_image_search_from_a_result(
    owner_client: Client, owner: User, queued_tasks: list[int]
) -> None:
    result = make_result(make_search(owner, status="done"), 1)
    response = owner_client.post(f"/results/{result.pk}/similar/")
    fresh = Search.objects.exclude(pk=result.search.pk).get()
    assert response["Location"] == f"/searches/{fresh.pk}/"
    assert (fresh.provider, fresh.query_image_url) == ("image_search", result.image_url)


def test_search_similar_of_a_strangers_result_is_404(
    stranger_client: Client, owner: User, queued_tasks: list[int]
) -> None:
    result = make_result(make_search(owner, status="done"), 1)
    assert stranger_client.post(f"/results/{result.pk}/similar/").status_code == 404
    assert Search.objects.count() == 1


def test_search_similar_needs_post_and_sign_in(
    owner_client: Client, anon_client: Client, owner: User
) -> None:
    result = make_result(make_search(owner, status="done"), 1)
    assert owner_client.get(f"/results/{result.pk}/similar/").status_code == 405
    assert anon_client.post(f"/results/{result.pk}/similar/").status_code == 302


def test_staff_see_query_images_in_the_admin_list(
    owner_client: Client, queued_tasks: list[int], owner: User, stranger_client: Client
) -> None:
    search = _image_search(owner_client)
    owner.is_staff = owner.is_superuser = True
    owner.save()
    listing = owner_client.get("/admin/search/search/").content.decode()
    url = f"/staff/searches/{search.pk}/image/"
    assert url in listing
    assert owner_client.get(url).status_code == 200
    assert stranger_client.get(url).status_code == 302  # not staff: to the admin login
    assert owner_client.post(url).status_code == 405
