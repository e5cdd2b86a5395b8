from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.library.conftest import jpeg_bytes, sample_image
from webapp.library.models import ImportRun, LibraryImage
from webapp.library.services import library_upload_create, library_upload_process


@pytest.fixture
def queued_imports(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from webapp.library import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.process_upload, "delay", lambda run_id: sent.append(run_id))
    return sent


def _files() -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile("../../etc/coffee.jpg", jpeg_bytes(sample_image("coffee.png"))),
        SimpleUploadedFile("coffee.txt", "A cup of coffee\nzh=一杯咖啡\n".encode()),
        SimpleUploadedFile("notes.pdf", b"%PDF-1.4 not an image"),
    ]


def test_an_upload_is_staged_queued_then_imported_once(
    owner: User, queued_imports: list[int], django_capture_on_commit_callbacks: object
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        run = library_upload_create(user=owner, files=_files())
    assert queued_imports == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.kind, run.created_by, run.total) == ("queued", "upload", owner, 3)
    staged = Path(settings.MEDIA_ROOT) / run.staging_dir
    assert sorted(p.name for p in staged.iterdir()) == ["coffee.jpg", "coffee.txt", "notes.pdf"]

    library_upload_process(run_id=run.pk)
    library_upload_process(run_id=run.pk)  # a second delivery does nothing

    run.refresh_from_db()
    assert (run.status, run.added, run.failed) == (ImportRun.Status.DONE, 1, 1)
    assert run.bad_files[0]["source"] == "notes.pdf"
    image = LibraryImage.objects.get()
    assert (image.title, image.translations, image.source) == (
        "A cup of coffee",
        {"zh": "一杯咖啡"},
        "coffee.jpg",
    )
    assert not staged.exists()


def test_an_empty_or_oversized_upload_is_refused_and_nothing_is_kept(
    owner: User, queued_imports: list[int], settings: object
) -> None:
    with pytest.raises(ValidationError) as empty:
        library_upload_create(user=owner, files=[])
    assert "at least one image" in str(empty.value)
    settings.LIBRARY_MAX_IMAGE_BYTES = 1024  # type: ignore[attr-defined]
    with pytest.raises(ValidationError) as big:
        library_upload_create(user=owner, files=[SimpleUploadedFile("big.jpg", b"x" * 2048)])
    assert "big.jpg: larger than" in str(big.value)
    assert not ImportRun.objects.exists()
    assert queued_imports == []
