"""Semantic matching blended into the library's text, image and combined rankings.

The emulated OpenSearch backend answers over a real socket; its space puts a
colour word next to pictures of that colour (webapp/emulator/embedding_space.py),
so "red" can find a red picture whose title never says so.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.test import Client

from tests.library.conftest import import_paths, jpeg_bytes, sample_image, write_image
from webapp.emulator import EmulatorHandle
from webapp.library.models import LibraryImage
from webapp.library.selectors import (
    library_index_reset,
    library_search,
    library_search_image,
    library_search_text,
)
from webapp.library.services import library_image_update, library_images_delete

pytestmark = pytest.mark.django_db
RED, BLUE, GREY, GREEN = (220, 30, 30), (30, 60, 220), (128, 128, 128), (30, 170, 50)
API = "opensearch_embedding"


def garden(tmp_path: Path) -> Path:
    """Four pictures. By words alone "flower" prefers the blue one (its title says it twice)."""
    folder = tmp_path / "set"
    for name, colour, title in [
        ("p1", RED, "Garden flower"),
        ("p2", BLUE, "Garden flower flower"),
        ("p3", GREY, "Stone wall"),
        ("p4", GREEN, "Sea view"),
    ]:
        write_image(folder / f"{name}.jpg", colour, size=(80, 60))
        (folder / f"{name}.txt").write_text(title)
    return folder


def titles(results: object) -> list[str]:
    return [hit.title for hit in results.hits]  # type: ignore[attr-defined]


# --- text -------------------------------------------------------------------------------


def test_without_a_backend_the_words_decide(tmp_path: Path, no_embedding_backend: None) -> None:
    import_paths(garden(tmp_path))

    results = library_search_text(query="red flower")

    assert titles(results) == ["Garden flower flower", "Garden flower"]
    assert results.semantic is False
    assert all(hit.semantic_score is None for hit in results.hits)


def test_the_embedding_decides_between_two_equal_word_matches(
    tmp_path: Path, opensearch_backend: EmulatorHandle
) -> None:
    import_paths(garden(tmp_path))

    results = library_search_text(query="red flower")

    assert titles(results) == ["Garden flower", "Garden flower flower"]
    assert results.semantic is True
    red, blue = results.hits
    assert red.semantic_score is not None and blue.semantic_score is not None
    assert red.semantic_score > 0.8 > blue.semantic_score
    assert red.text_score is not None and blue.text_score is not None
    assert red.text_score < blue.text_score  # the words alone still prefer the blue one
    assert red.score > blue.score


def test_text_finds_a_picture_by_meaning_when_no_word_matches(
    tmp_path: Path, opensearch_backend: EmulatorHandle
) -> None:
    import_paths(garden(tmp_path))

    for query in ("red", "红"):
        results = library_search_text(query=query)

        assert titles(results)[:1] == ["Garden flower"], query
        assert results.hits[0].text_score is None  # found on meaning alone
        assert results.hits[0].semantic_score is not None


def test_with_no_vectors_yet_the_words_still_answer(
    tmp_path: Path, settings: object, request: pytest.FixtureRequest
) -> None:
    settings.EMBEDDING_BACKEND = "none"  # type: ignore[attr-defined]
    import_paths(garden(tmp_path))
    request.getfixturevalue("opensearch_backend")

    results = library_search_text(query="flower")

    assert titles(results) == ["Garden flower flower", "Garden flower"]  # no penalty, no bonus


def test_the_index_picks_up_vectors_from_a_reindex_without_a_rebuild(
    tmp_path: Path, settings: object, request: pytest.FixtureRequest
) -> None:
    from django.core.management import call_command

    settings.EMBEDDING_BACKEND = "none"  # type: ignore[attr-defined]
    import_paths(garden(tmp_path))
    request.getfixturevalue("opensearch_backend")
    assert library_search_text(query="red").hits == []

    call_command("library_reindex", "--no-progress", stdout=io.StringIO())

    assert titles(library_search_text(query="red"))[:1] == ["Garden flower"]


def test_an_edited_image_keeps_its_vector(
    tmp_path: Path, opensearch_backend: EmulatorHandle
) -> None:
    import_paths(garden(tmp_path))
    library_search_text(query="red")  # the index is built
    red = LibraryImage.objects.get(title="Garden flower")

    library_image_update(image=red, title="Rose bed", description="")

    assert titles(library_search_text(query="red"))[:1] == ["Rose bed"]


def test_a_deleted_image_is_not_found_by_meaning(
    tmp_path: Path, opensearch_backend: EmulatorHandle
) -> None:
    import_paths(garden(tmp_path))
    library_search_text(query="red")

    library_images_delete(images=LibraryImage.objects.filter(title="Garden flower"))

    assert "Garden flower" not in titles(library_search_text(query="red"))


def test_a_failing_backend_leaves_the_words_and_says_why(
    tmp_path: Path, opensearch_backend: EmulatorHandle
) -> None:
    import_paths(garden(tmp_path))
    opensearch_backend.set_fault("http_401", api=API)

    results = library_search_text(query="red flower")

    assert titles(results) == ["Garden flower flower", "Garden flower"]
    assert results.semantic is False
    assert results.notice.startswith("Semantic matching was left out of this search:")
    assert "OPENSEARCH_EMBEDDING_API_KEY" in results.notice


def test_a_query_vector_is_asked_for_once_while_paging(
    tmp_path: Path, opensearch_backend: EmulatorHandle
) -> None:
    import_paths(garden(tmp_path))
    before = len(opensearch_backend.requests)

    library_search_text(query="red flower", limit=1, offset=0)
    library_search_text(query="red flower", limit=1, offset=1)

    assert len(opensearch_backend.requests) - before == 1


def test_the_local_model_blends_in_too(tmp_path: Path, local_backend: Path) -> None:
    import_paths(garden(tmp_path))

    results = library_search_text(query="red flower")

    assert titles(results)[0] == "Garden flower"
    assert results.semantic is True


# --- image, and both -------------------------------------------------------------------


def samples(tmp_path: Path) -> Path:
    folder = tmp_path / "samples"
    folder.mkdir()
    for name in ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"):
        sample_image(name).save(folder / f"{Path(name).stem}.png")
    return folder


def test_an_image_query_keeps_the_near_duplicate_first_and_adds_meaning(
    tmp_path: Path, opensearch_backend: EmulatorHandle
) -> None:
    import_paths(samples(tmp_path))
    query = jpeg_bytes(sample_image("coffee.png").resize((300, 200)), quality=40)

    results = library_search_image(image_bytes=query)

    assert results.semantic is True
    first = results.hits[0]
    assert first.title == "coffee"
    assert first.near_duplicate is True
    assert first.semantic_score is not None and first.semantic_score > 0.95
    assert first.image_score is not None


def test_text_and_image_together_use_both_meanings(
    tmp_path: Path, opensearch_backend: EmulatorHandle
) -> None:
    import_paths(samples(tmp_path))
    query = jpeg_bytes(sample_image("rocket.jpg"))

    results = library_search(query="rocket launch", image_bytes=query)

    assert results.semantic is True
    assert results.hits[0].title == "rocket"
    assert results.hits[0].near_duplicate is True


def test_without_a_backend_image_results_carry_no_meaning(
    tmp_path: Path, no_embedding_backend: None
) -> None:
    import_paths(samples(tmp_path))
    library_index_reset()

    results = library_search_image(image_bytes=jpeg_bytes(sample_image("coffee.png")))

    assert results.semantic is False
    assert results.hits[0].semantic_score is None


# --- the library page --------------------------------------------------------------------


def test_the_page_names_the_emulated_backend_and_the_coverage(
    tmp_path: Path, opensearch_backend: EmulatorHandle, owner_client: Client
) -> None:
    import_paths(garden(tmp_path))

    page = owner_client.get("/library/", {"q": "red"}).content.decode()

    assert "Semantic matching: OpenSearch ops-m2-encoder (offline emulator)" in page
    assert "generated vectors, not the real model" in page
    assert "4 of 4 images embedded" in page
    assert "Meaning " in page  # the card shows the semantic score
    assert "Garden flower" in page


def test_the_page_says_when_the_backend_failed(
    tmp_path: Path, opensearch_backend: EmulatorHandle, owner_client: Client
) -> None:
    import_paths(garden(tmp_path))
    opensearch_backend.set_fault("http_401", api=API)

    page = owner_client.get("/library/", {"q": "flower"}).content.decode()

    assert "Semantic matching was left out of this search" in page
    assert "Garden flower flower" in page


def test_the_page_says_nothing_of_embeddings_without_a_backend(
    tmp_path: Path, no_embedding_backend: None, owner_client: Client
) -> None:
    import_paths(garden(tmp_path))

    page = owner_client.get("/library/", {"q": "flower"}).content.decode()

    assert "Semantic matching" not in page
    assert "Meaning " not in page


def test_an_empty_library_answers_nothing_without_error(
    opensearch_backend: EmulatorHandle,
) -> None:
    results = library_search(query="red", image_bytes=jpeg_bytes(sample_image("coffee.png")))

    assert results.hits == []
    assert results.total == 0
    assert results.semantic is True
