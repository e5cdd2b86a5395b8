from __future__ import annotations

from pathlib import Path

import pytest

from tests.library.conftest import import_paths, jpeg_bytes, sample_image
from webapp.library.models import LibraryImage
from webapp.library.provider import LibraryImageHit, library_events, library_thumbnail_for
from webapp.providers.errors import ProviderError
from webapp.providers.events import Completed, HitsFound, ImageHit


def _one_cat(tmp_path: Path) -> LibraryImage:
    folder = tmp_path / "cats"
    folder.mkdir()
    sample_image("chelsea.png").save(folder / "chelsea.png")
    (folder / "chelsea.txt").write_text("Chelsea the cat\nA tabby cat.\nzh=一只猫\n", "utf-8")
    import_paths(folder)
    return LibraryImage.objects.get()


def test_a_text_search_yields_library_hits_and_a_summary(db: None, tmp_path: Path) -> None:
    cat = _one_cat(tmp_path)
    events = list(library_events(query="猫", image_bytes=None))
    assert [type(e) for e in events] == [HitsFound, Completed]
    hit = events[0].hits[0]  # type: ignore[union-attr]
    assert isinstance(hit, LibraryImageHit) and isinstance(hit, ImageHit)
    assert (hit.rank, hit.title, hit.width, hit.height) == (1, "Chelsea the cat", 451, 300)
    assert hit.image_url == f"/library/items/{cat.pk}/full.jpg"
    assert hit.host_page_url == f"/library/items/{cat.pk}/"
    assert hit.library_image_id == cat.pk
    assert 0 < hit.score <= 1 and hit.near_duplicate is False
    summary = events[1]
    assert isinstance(summary, Completed)
    assert summary.raw_response["total"] == 1


def test_an_image_search_marks_the_near_duplicate(db: None, tmp_path: Path) -> None:
    cat = _one_cat(tmp_path)
    query = jpeg_bytes(sample_image("chelsea.png").resize((200, 133)), quality=30)
    hits = next(e for e in library_events(query="", image_bytes=query) if isinstance(e, HitsFound))
    hit = hits.hits[0]
    assert isinstance(hit, LibraryImageHit)
    assert (hit.library_image_id, hit.near_duplicate) == (cat.pk, True)


def test_nothing_found_yields_only_the_summary(db: None, tmp_path: Path) -> None:
    _one_cat(tmp_path)
    events = list(library_events(query="zebra", image_bytes=None))
    assert [type(e) for e in events] == [Completed]


def test_bad_input_raises_provider_errors_with_sentences(db: None) -> None:
    with pytest.raises(ProviderError) as empty:
        list(library_events(query="  ", image_bytes=None))
    assert empty.value.code == "EmptyQuery"
    with pytest.raises(ProviderError) as bad:
        list(library_events(query="", image_bytes=b"GIF89a broken"))
    assert bad.value.code == "InvalidImage"
    assert "Loupe" in bad.value.message


def test_the_thumbnail_of_a_hit_is_a_local_file(db: None, tmp_path: Path) -> None:
    cat = _one_cat(tmp_path)
    found = library_thumbnail_for(cat.pk)
    assert found is not None
    path, width, height = found
    assert path.read_bytes()[:2] == b"\xff\xd8"
    assert (width, height) == (320, 213)
    assert library_thumbnail_for(cat.pk + 1000) is None
