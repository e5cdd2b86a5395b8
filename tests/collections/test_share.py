"""Share links: unguessable, read-only, revocable, expiring; public thumbnails scoped."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tests.collections.factories import make_collection, make_items
from tests.factories import make_result, make_search
from webapp.collections.models import ShareLink
from webapp.collections.services import collection_share, collection_unshare


def _shared(owner: User) -> tuple[ShareLink, list[str]]:
    collection = make_collection(owner, "Mood board", description="Warm interiors")
    items = make_items(collection, 2)
    items[0].note = "owner's private note"
    items[0].save()
    link = collection_share(collection=collection)
    return link, [i.thumbnail.url_hash for i in items]  # type: ignore[union-attr]


def test_sharing_makes_a_link_with_a_256_bit_token(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    response = owner_client.post(f"/collections/{collection.pk}/share/")
    assert response.status_code == 302
    link = ShareLink.objects.get()
    assert len(link.token) >= 43  # token_urlsafe(32): 256 bits
    assert link.collection == collection and link.is_live()
    html = owner_client.get(f"/collections/{collection.pk}/").content.decode()
    assert f"http://testserver/shared/{link.token}/" in html
    assert "Never expires." in html


def test_sharing_with_htmx_returns_the_share_panel(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    response = owner_client.post(
        f"/collections/{collection.pk}/share/",
        {"expires_in_days": "7"},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert 'id="share"' in body and "<html" not in body
    link = ShareLink.objects.get()
    assert link.expires_at is not None
    assert timedelta(days=6, hours=23) < link.expires_at - timezone.now() <= timedelta(days=7)
    assert link.token in body


def test_a_bad_expiry_is_refused(owner_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    response = owner_client.post(f"/collections/{collection.pk}/share/", {"expires_in_days": "365"})
    assert response.status_code == 400
    assert "Choose an expiry" in response.content.decode()
    assert not ShareLink.objects.exists()


def test_sharing_again_keeps_the_same_link(owner: User) -> None:
    collection = make_collection(owner)
    first = collection_share(collection=collection)
    again = collection_share(collection=collection, expires_at=timezone.now() + timedelta(days=1))
    assert again.token == first.token
    assert ShareLink.objects.count() == 1
    assert ShareLink.objects.get().expires_at is not None


def test_the_public_page_shows_the_gallery_and_nothing_about_the_owner(
    anon_client: Client, owner: User
) -> None:
    link, digests = _shared(owner)
    response = anon_client.get(f"/shared/{link.token}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Mood board" in html and "Warm interiors" in html
    assert "Result 1" in html and "Result 2" in html
    assert f'src="/shared/{link.token}/thumbs/{digests[0]}.jpg"' in html
    assert 'src="/thumbs/' not in html  # the owner's thumbnail URL needs a login
    assert "owner" not in html.lower()  # no user name, e-mail or private note
    assert "private note" not in html
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "Remove" not in html and "Save note" not in html  # read-only


def test_a_signed_in_stranger_can_open_the_link_too(stranger_client: Client, owner: User) -> None:
    link, _ = _shared(owner)
    assert stranger_client.get(f"/shared/{link.token}/").status_code == 200


def test_anonymous_can_fetch_thumbnails_of_the_shared_collection_only(
    anon_client: Client, owner: User
) -> None:
    link, digests = _shared(owner)
    other = make_result(make_search(owner, status="done"), 1)  # ready, but not in the collection
    response = anon_client.get(f"/shared/{link.token}/thumbs/{digests[0]}.jpg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"  # type: ignore[attr-defined]
    digest = other.thumbnail.url_hash  # type: ignore[union-attr]
    assert anon_client.get(f"/shared/{link.token}/thumbs/{digest}.jpg").status_code == 404
    assert anon_client.get(f"/thumbs/{digests[0]}.jpg").status_code == 302  # login


def test_a_revoked_link_is_404_for_the_page_and_its_thumbnails(
    owner_client: Client, anon_client: Client, owner: User
) -> None:
    link, digests = _shared(owner)
    response = owner_client.post(f"/collections/{link.collection_id}/share/revoke/")
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None
    assert anon_client.get(f"/shared/{link.token}/").status_code == 404
    assert anon_client.get(f"/shared/{link.token}/thumbs/{digests[0]}.jpg").status_code == 404


def test_an_expired_link_is_404(anon_client: Client, owner: User) -> None:
    link, digests = _shared(owner)
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert anon_client.get(f"/shared/{link.token}/").status_code == 404
    assert anon_client.get(f"/shared/{link.token}/thumbs/{digests[0]}.jpg").status_code == 404


def test_sharing_after_expiry_makes_a_new_token(owner: User) -> None:
    link, _ = _shared(owner)
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    fresh = collection_share(collection=link.collection)
    assert fresh.token != link.token
    link.refresh_from_db()
    assert link.revoked_at is not None  # the old one is retired for good


def test_the_owner_sees_that_the_last_link_expired(owner_client: Client, owner: User) -> None:
    link, _ = _shared(owner)
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    html = owner_client.get(f"/collections/{link.collection_id}/").content.decode()
    assert "The last link expired" in html
    assert link.token not in html


def test_revoking_then_sharing_again_gives_a_new_token(owner: User) -> None:
    link, _ = _shared(owner)
    assert collection_unshare(collection=link.collection) == 1
    fresh = collection_share(collection=link.collection)
    assert fresh.token != link.token


def test_an_unknown_token_is_404(anon_client: Client, db: None) -> None:
    assert anon_client.get("/shared/not-a-token/").status_code == 404


def test_the_public_page_answers_get_only(anon_client: Client, owner: User) -> None:
    link, digests = _shared(owner)
    assert anon_client.post(f"/shared/{link.token}/").status_code == 405
    assert anon_client.post(f"/shared/{link.token}/thumbs/{digests[0]}.jpg").status_code == 405


def test_the_public_page_pages_through_large_collections(anon_client: Client, owner: User) -> None:
    collection = make_collection(owner)
    make_items(collection, 61)
    link = collection_share(collection=collection)
    html = anon_client.get(f"/shared/{link.token}/").content.decode()
    assert html.count('class="card item-card"') == 60
    more = anon_client.get(
        f"/shared/{link.token}/",
        {"page": "2"},
        headers={"HX-Request": "true", "HX-Target": "load-more"},
    ).content.decode()
    assert more.count('class="card item-card"') == 1 and "<html" not in more
