from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from tests.library.conftest import import_paths, jpeg_bytes, sample_image
from webapp.library.models import ImportRun, LibraryImage


@pytest.fixture
def cat(db: None, tmp_path: Path) -> LibraryImage:
    folder = tmp_path / "import" / "pets"
    folder.mkdir(parents=True)
    exif = Image.Exif()
    exif[0x8825] = {2: (39.0, 54.0, 0.0)}  # GPS, which the full view must not pass on
    sample_image("chelsea.png").save(folder / "chelsea.jpg", exif=exif)
    (folder / "chelsea.txt").write_text("Chelsea the cat\nA tabby cat.\nzh=一只猫\n", "utf-8")
    import_paths(folder.parent)
    return LibraryImage.objects.get()


@pytest.fixture
def staff_client(owner: User) -> Client:
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def queued_imports(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from webapp.library import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.process_upload, "delay", lambda run_id: sent.append(run_id))
    return sent


# --- the library page -----------------------------------------------------------------


def test_anyone_signed_in_searches_the_library_by_text(
    stranger_client: Client, cat: LibraryImage
) -> None:
    html = stranger_client.get("/library/", {"q": "猫"}).content.decode()
    assert "Chelsea the cat" in html
    assert f'href="/library/items/{cat.pk}/"' in html
    assert f'src="/library/items/{cat.pk}/thumb.jpg"' in html
    assert "Score" in html


def test_search_by_uploaded_image_marks_the_near_duplicate(
    owner_client: Client, cat: LibraryImage
) -> None:
    query = SimpleUploadedFile("q.jpg", jpeg_bytes(sample_image("chelsea.png"), quality=30))
    response = owner_client.post("/library/", {"q": "", "image": query})
    assert response.status_code == 200
    assert "Near-duplicate" in response.content.decode()


def test_an_unreadable_query_image_gets_a_sentence_and_a_400(
    owner_client: Client, cat: LibraryImage
) -> None:
    bad = SimpleUploadedFile("q.jpg", b"<html>not an image</html>")
    response = owner_client.post("/library/", {"image": bad})
    assert response.status_code == 400
    assert "not a picture in a format Loupe reads" in response.content.decode()


def test_without_a_query_the_newest_images_are_listed(
    owner_client: Client, cat: LibraryImage
) -> None:
    html = owner_client.get("/library/").content.decode()
    assert "Newest images" in html and "Chelsea the cat" in html


def test_an_empty_library_says_so(owner_client: Client) -> None:
    assert "The library is empty" in owner_client.get("/library/").content.decode()


def test_the_library_page_needs_sign_in_and_get_or_post(
    anon_client: Client, owner_client: Client
) -> None:
    response = anon_client.get("/library/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert owner_client.put("/library/").status_code == 405


# --- an image's page and files --------------------------------------------------------------


def test_the_item_page_shows_what_the_library_knows(
    owner_client: Client, staff_client: Client, stranger_client: Client, cat: LibraryImage
) -> None:
    html = stranger_client.get(f"/library/items/{cat.pk}/").content.decode()
    assert "Chelsea the cat" in html and "一只猫" in html and "451 × 300" in html
    assert "pets" in html  # the folder became a tag
    assert cat.source not in html  # server paths are for staff only
    assert cat.source in staff_client.get(f"/library/items/{cat.pk}/").content.decode()


def test_item_pages_and_files_404_for_a_missing_image_and_refuse_post(
    owner_client: Client, anon_client: Client, cat: LibraryImage
) -> None:
    for suffix in ("", "thumb.jpg", "full.jpg"):
        assert owner_client.get(f"/library/items/{cat.pk + 99}/{suffix}").status_code == 404
        assert owner_client.post(f"/library/items/{cat.pk}/{suffix}").status_code == 405
        assert anon_client.get(f"/library/items/{cat.pk}/{suffix}").status_code == 302


def test_the_full_view_is_a_reencoded_copy_without_exif(
    owner_client: Client, cat: LibraryImage
) -> None:
    response = owner_client.get(f"/library/items/{cat.pk}/full.jpg")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    data = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (451, 300)
        assert not image.getexif()
    thumb = owner_client.get(f"/library/items/{cat.pk}/thumb.jpg")
    assert thumb.status_code == 200 and "immutable" in thumb["Cache-Control"]


# --- staff uploads --------------------------------------------------------------------------


def test_staff_upload_several_files_and_are_sent_to_the_progress_page(
    staff_client: Client,
    owner: User,
    queued_imports: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    assert staff_client.get("/library/upload/").status_code == 200
    files = [
        SimpleUploadedFile("a.jpg", jpeg_bytes(sample_image("coffee.png"))),
        SimpleUploadedFile("b.jpg", jpeg_bytes(sample_image("rocket.jpg"))),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/library/upload/", {"images": files})
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/library/imports/{run.pk}/"
    assert (run.status, run.total, run.created_by, run.sources) == (
        "queued",
        2,
        owner,
        ["a.jpg", "b.jpg"],
    )
    assert queued_imports == [run.pk]


def test_an_empty_upload_gets_a_sentence(staff_client: Client, queued_imports: list[int]) -> None:
    response = staff_client.post("/library/upload/", {})
    assert response.status_code == 400
    assert "Choose at least one image" in response.content.decode()
    assert not ImportRun.objects.exists()


def test_non_staff_may_not_upload_or_follow_imports(
    owner_client: Client, anon_client: Client, queued_imports: list[int]
) -> None:
    run = ImportRun.objects.create(kind="upload", status="done")
    for url in ("/library/upload/", f"/library/imports/{run.pk}/"):
        response = owner_client.get(url)
        assert response.status_code == 403
        assert "Only staff can add images" in response.content.decode()
        assert anon_client.get(url).status_code == 302
    assert owner_client.post("/library/upload/", {}).status_code == 403
    assert not ImportRun.objects.exclude(pk=run.pk).exists()


def test_wrong_methods_on_staff_pages(staff_client: Client) -> None:
    run = ImportRun.objects.create(kind="upload", status="done")
    assert staff_client.put("/library/upload/").status_code == 405
    assert staff_client.post(f"/library/imports/{run.pk}/").status_code == 405


def test_the_progress_page_polls_until_the_import_is_finished(staff_client: Client) -> None:
    run = ImportRun.objects.create(kind="upload", status="running", total=4, processed=1)
    running = staff_client.get(f"/library/imports/{run.pk}/", headers={"HX-Request": "true"})
    assert running.status_code == 200 and 'hx-trigger="every 1s"' in running.content.decode()
    ImportRun.objects.filter(pk=run.pk).update(
        status="done",
        processed=4,
        added=3,
        failed=1,
        bad_files=[{"source": "x.pdf", "reason": "The file is not a picture."}],
    )
    done = staff_client.get(f"/library/imports/{run.pk}/", headers={"HX-Request": "true"})
    assert done.status_code == 286
    html = done.content.decode()
    assert "x.pdf" in html and "every 1s" not in html and "<html" not in html
    assert staff_client.get(f"/library/imports/{run.pk + 1}/").status_code == 404
