from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F
from django.utils import timezone

from tests.library.conftest import jpeg_bytes, sample_image
from webapp.library.models import ImportRun, LibraryImage
from webapp.library.recovery import library_uploads_sweep
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


def _lapse(run: ImportRun) -> None:
    """What a killed worker leaves: running, its lease run out, nothing renewing it."""
    ImportRun.objects.filter(pk=run.pk).update(
        status="running",
        lease_token="dead-worker",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        attempts=F("attempts") + 1,
    )


def test_an_upload_whose_worker_died_runs_again_and_stores_nothing_twice(
    owner: User, queued_imports: list[int], django_capture_on_commit_callbacks: object
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        run = library_upload_create(user=owner, files=_files())
    library_upload_process(run_id=run.pk)  # the first attempt stored the image...
    ImportRun.objects.filter(pk=run.pk).update(status="queued")  # (staging kept for the test)
    _lapse(run)  # ...and then its worker was killed
    assert library_uploads_sweep() == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.lease_token) == ("queued", "")
    assert queued_imports == [run.pk, run.pk]
    assert LibraryImage.objects.count() == 1


def test_an_upload_interrupted_too_often_fails_with_a_sentence(
    owner: User, queued_imports: list[int], settings: object
) -> None:
    settings.SEARCH_MAX_ATTEMPTS = 1  # type: ignore[attr-defined]
    run = ImportRun.objects.create(kind="upload", created_by=owner, staging_dir="uploads/x")
    _lapse(run)
    assert library_uploads_sweep() == [run.pk]
    run.refresh_from_db()
    assert run.status == "failed"
    assert "interrupted 1 times" in run.error_message
    assert queued_imports == []


def test_an_upload_made_while_the_broker_was_down_is_sent_later(
    owner: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: object
) -> None:
    from webapp.library import tasks

    def broker_down(run_id: int) -> None:
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.process_upload, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        run = library_upload_create(user=owner, files=_files())
    run.refresh_from_db()
    assert (run.status, run.dispatched_at) == ("queued", None)

    sent: list[int] = []
    monkeypatch.setattr(tasks.process_upload, "delay", sent.append)
    ImportRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert library_uploads_sweep() == [run.pk]
    assert sent == [run.pk]
