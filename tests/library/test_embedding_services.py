"""Embedding library images: during an import, and with `library_reindex` (idempotent)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tests.fixtures.embeddings import embedding_calls
from tests.library.conftest import import_paths, write_image
from webapp.emulator import EmulatorHandle
from webapp.library.embedding import embedding_backend
from webapp.library.models import ImportRun, LibraryEmbedding, LibraryImage
from webapp.library.services import library_images_delete
from webapp.library.vectors import decode_vector

pytestmark = pytest.mark.django_db
COLOURS = [(220, 30, 30), (30, 60, 220), (30, 170, 50)]
API = "opensearch_embedding"


def three_images(tmp_path: Path) -> Path:
    folder = tmp_path / "pictures"
    for n, colour in enumerate(COLOURS):
        write_image(folder / f"p{n}.jpg", colour, size=(80, 60))
    return folder


def reindex() -> str:
    out = io.StringIO()
    call_command("library_reindex", "--no-progress", stdout=out)
    return out.getvalue()


# --- during an import ----------------------------------------------------------------------


def test_without_a_backend_an_import_stores_no_vectors(
    tmp_path: Path, no_embedding_backend: None
) -> None:
    run = import_paths(three_images(tmp_path))

    run.refresh_from_db()
    assert run.added == 3
    assert run.embedded == 0
    assert run.embedding_error == ""
    assert not LibraryEmbedding.objects.exists()


def test_an_import_embeds_every_new_image_with_the_local_model(
    tmp_path: Path, local_backend: Path
) -> None:
    run = import_paths(three_images(tmp_path))

    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE
    assert run.embedded == 3
    backend = embedding_backend()
    assert backend is not None
    rows = list(LibraryEmbedding.objects.order_by("image_id"))
    assert [r.image_id for r in rows] == list(
        LibraryImage.objects.order_by("pk").values_list("pk", flat=True)
    )
    assert {r.model for r in rows} == {backend.name}
    assert {r.dimensions for r in rows} == {32}
    vectors = [decode_vector(bytes(r.vector), 32) for r in rows]
    assert all(v is not None and abs(float(np.linalg.norm(v)) - 1) < 1e-2 for v in vectors)


def test_an_import_embeds_in_batches_through_the_emulated_api(
    tmp_path: Path, opensearch_backend: EmulatorHandle
) -> None:
    run = import_paths(three_images(tmp_path))

    run.refresh_from_db()
    assert run.embedded == 3
    assert embedding_calls(opensearch_backend) == 1  # three images: one request
    assert LibraryEmbedding.objects.filter(model="opensearch/ops-m2-encoder").count() == 3


def test_an_import_goes_on_when_the_backend_refuses_and_says_how_to_catch_up(
    tmp_path: Path, opensearch_backend: EmulatorHandle
) -> None:
    opensearch_backend.set_fault("http_401", api=API)

    run = import_paths(three_images(tmp_path))

    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE
    assert run.added == 3
    assert run.embedded == 0
    assert "OPENSEARCH_EMBEDDING_API_KEY" in run.embedding_error
    assert "library_reindex" in run.embedding_error
    assert not LibraryEmbedding.objects.exists()


def test_one_refused_picture_does_not_hold_back_the_others(
    tmp_path: Path, opensearch_backend: EmulatorHandle
) -> None:
    opensearch_backend.set_fault("InvalidParameter", 1, api=API)  # the batch of three

    run = import_paths(three_images(tmp_path))

    run.refresh_from_db()
    assert run.embedded == 3  # then one at a time, each accepted
    assert embedding_calls(opensearch_backend) == 4


# --- library_reindex ------------------------------------------------------------------------


def test_reindex_embeds_what_is_missing_and_a_second_run_does_nothing(
    tmp_path: Path, settings: object, emulator: EmulatorHandle, request: pytest.FixtureRequest
) -> None:
    settings.EMBEDDING_BACKEND = "none"  # type: ignore[attr-defined]
    import_paths(three_images(tmp_path))
    request.getfixturevalue("opensearch_backend")

    first = reindex()

    assert "Embedded 3 of the 3 image(s) that had no vector." in first
    assert "OpenSearch ops-m2-encoder (offline emulator)" in first
    assert LibraryEmbedding.objects.count() == 3
    assert embedding_calls(emulator) == 1

    second = reindex()

    assert "nothing to do" in second
    assert LibraryEmbedding.objects.count() == 3
    assert embedding_calls(emulator) == 1  # no call at all the second time


def test_reindex_adds_only_images_imported_since(
    tmp_path: Path, opensearch_backend: EmulatorHandle, settings: object
) -> None:
    import_paths(three_images(tmp_path))
    write_image(tmp_path / "more" / "q.jpg", (240, 220, 40))
    settings.EMBEDDING_BACKEND = "none"  # type: ignore[attr-defined]
    import_paths(tmp_path / "more")
    settings.EMBEDDING_BACKEND = "opensearch"  # type: ignore[attr-defined]

    output = reindex()

    assert "Embedded 1 of the 1 image(s)" in output
    assert LibraryEmbedding.objects.count() == 4


def test_reindex_stops_with_the_reason_and_a_rerun_continues(
    tmp_path: Path, emulator: EmulatorHandle, request: pytest.FixtureRequest, settings: object
) -> None:
    settings.EMBEDDING_BACKEND = "none"  # type: ignore[attr-defined]
    import_paths(three_images(tmp_path))
    request.getfixturevalue("opensearch_backend")
    emulator.set_fault("http_401", api=API)

    with pytest.raises(CommandError, match="OPENSEARCH_EMBEDDING_API_KEY"):
        reindex()
    assert not LibraryEmbedding.objects.exists()

    emulator.clear_faults()
    assert "Embedded 3 of the 3" in reindex()


def test_reindex_lists_an_image_it_cannot_read(
    tmp_path: Path, local_backend: Path, settings: object
) -> None:
    settings.EMBEDDING_BACKEND = "none"  # type: ignore[attr-defined]
    import_paths(three_images(tmp_path))
    settings.EMBEDDING_BACKEND = "local"  # type: ignore[attr-defined]
    broken = LibraryImage.objects.order_by("pk").first()
    assert broken is not None
    (Path(settings.MEDIA_ROOT) / broken.thumbnail_file).unlink()  # type: ignore[attr-defined]

    output = reindex()

    assert "Embedded 2 of the 3" in output
    assert f"image {broken.pk}: Its thumbnail file is missing." in output
    assert not LibraryEmbedding.objects.filter(image=broken).exists()


def test_reindex_without_a_backend_says_how_to_set_one(no_embedding_backend: None) -> None:
    with pytest.raises(CommandError, match="Set EMBEDDING_BACKEND"):
        reindex()


def test_reindex_with_a_broken_model_folder_names_the_problem(
    settings: object, tmp_path: Path
) -> None:
    settings.EMBEDDING_BACKEND = "local"  # type: ignore[attr-defined]
    settings.LOCAL_CLIP_MODEL = str(tmp_path)  # type: ignore[attr-defined]

    with pytest.raises(CommandError, match=r"config\.json is missing"):
        reindex()


def test_deleting_an_image_deletes_its_vectors(tmp_path: Path, local_backend: Path) -> None:
    import_paths(three_images(tmp_path))

    library_images_delete(images=LibraryImage.objects.all()[:1])

    assert LibraryEmbedding.objects.count() == 2


def test_vectors_of_another_model_are_kept_apart(
    tmp_path: Path, local_backend: Path, request: pytest.FixtureRequest
) -> None:
    import_paths(three_images(tmp_path))
    request.getfixturevalue("opensearch_backend")

    assert "Embedded 3 of the 3" in reindex()  # the local model's vectors do not count

    assert LibraryEmbedding.objects.values("model").distinct().count() == 2


def test_a_bug_in_the_backend_never_stops_the_import(
    tmp_path: Path, local_backend: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.providers.local_clip import LocalClipBackend

    def broken(self: LocalClipBackend, images: list[bytes]) -> list[list[float]]:
        raise RuntimeError("boom")

    monkeypatch.setattr(LocalClipBackend, "embed_images", broken)

    run = import_paths(three_images(tmp_path))

    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE
    assert run.added == 3
    assert run.embedding_error.startswith("Embedding failed on an internal error")
