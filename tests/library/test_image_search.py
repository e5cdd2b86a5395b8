from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.library.conftest import SAMPLES, import_paths, jpeg_bytes, sample_image
from webapp.library.models import LibraryImage
from webapp.library.selectors import (
    QueryImageError,
    library_search,
    library_search_image,
)
from webapp.library.transforms import TRANSFORMS


def _sample_library(tmp_path: Path) -> dict[str, int]:
    folder = tmp_path / "samples"
    folder.mkdir()
    for name in SAMPLES:
        sample_image(name).save(folder / f"{Path(name).stem}.png")
    import_paths(folder)
    return {Path(i.file_name).stem: i.pk for i in LibraryImage.objects.all()}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_each_edit_of_a_sample_image_finds_the_original_first(
    db: None, tmp_path: Path, transform: str
) -> None:
    ids = _sample_library(tmp_path)
    for name in SAMPLES:
        stem = Path(name).stem
        query = jpeg_bytes(TRANSFORMS[transform](sample_image(name)))
        results = library_search_image(image_bytes=query, limit=5)
        top = results.hits[0]
        assert top.image_id == ids[stem], (transform, stem, results.hits[:2])
        assert top.near_duplicate, (transform, stem, top)
        assert 0 < top.score <= 1


def test_an_unrelated_picture_is_no_near_duplicate(db: None, tmp_path: Path) -> None:
    _sample_library(tmp_path)
    stripes = Image.new("RGB", (300, 200), "white")
    for x in range(0, 300, 20):
        stripes.paste((200, 30, 30), (x, 0, x + 10, 200))
    results = library_search_image(image_bytes=jpeg_bytes(stripes), limit=10)
    assert not any(hit.near_duplicate for hit in results.hits)


def test_visually_similar_images_come_after_the_copy(db: None, tmp_path: Path) -> None:
    ids = _sample_library(tmp_path)
    results = library_search_image(image_bytes=jpeg_bytes(sample_image("brick.png")), limit=10)
    assert results.hits[0].image_id == ids["brick"]
    assert results.hits[0].hash_distance is not None and results.hits[0].hash_distance <= 4
    near = [hit.near_duplicate for hit in results.hits]
    assert near == sorted(near, reverse=True)  # every near-duplicate before any look-alike


def test_text_and_image_together_rank_what_matches_both_first(db: None, tmp_path: Path) -> None:
    ids = _sample_library(tmp_path)
    query = jpeg_bytes(TRANSFORMS["cropped_centre_20"](sample_image("chelsea.png")))
    results = library_search(query="coffee", image_bytes=query, limit=10)
    assert results.hits[0].image_id == ids["chelsea"]  # the near-duplicate wins
    found = {hit.image_id: hit for hit in results.hits}
    assert ids["coffee"] in found  # the text match is there too
    assert found[ids["coffee"]].text_score is not None
    assert found[ids["chelsea"]].near_duplicate


def test_bytes_that_are_not_an_image_are_refused_with_a_sentence(db: None) -> None:
    with pytest.raises(QueryImageError) as caught:
        library_search_image(image_bytes=b"<html>hello</html>", limit=5)
    assert "not a picture" in caught.value.message


def test_an_empty_library_finds_nothing(db: None) -> None:
    results = library_search_image(image_bytes=jpeg_bytes(sample_image("coffee.png")), limit=5)
    assert (results.hits, results.total) == ([], 0)
