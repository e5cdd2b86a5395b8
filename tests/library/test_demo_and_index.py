from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.library.conftest import import_paths, jpeg_bytes, sample_image, write_image
from webapp.library.models import ImportRun, LibraryImage
from webapp.library.selectors import library_search_image, library_search_text
from webapp.library.services import library_image_update, library_images_delete


def _titles(query: str) -> list[str]:
    return [hit.title for hit in library_search_text(query=query, limit=5).hits]


def test_the_demo_library_answers_in_english_chinese_and_by_image(
    db: None, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("library_demo")
    assert "25 image(s) added" in capsys.readouterr().out
    assert _titles("cat")[0] == "Chelsea the cat"
    assert _titles("猫")[0] == "Chelsea the cat"
    assert _titles("rocket")[0] == "Rocket on the launch pad"
    assert _titles("火箭")[0] == "Rocket on the launch pad"
    assert _titles("coffee")[0] == "A cup of coffee"
    assert _titles("咖啡")[0] == "A cup of coffee"
    uploaded = jpeg_bytes(sample_image("astronaut.png").resize((256, 256)), quality=50)
    top = library_search_image(image_bytes=uploaded, limit=1).hits[0]
    assert (top.title, top.near_duplicate) == ("Astronaut Eileen Collins", True)
    chelsea = LibraryImage.objects.get(title="Chelsea the cat")
    assert chelsea.tags == ["animals"]
    assert chelsea.source == "scikit-image sample data/animals/chelsea.png"

    call_command("library_demo")  # a second start imports nothing
    assert "already imported" in capsys.readouterr().out
    assert ImportRun.objects.filter(kind="demo").count() == 1
    assert LibraryImage.objects.count() == 25


def test_edits_and_deletions_reach_the_index(db: None, tmp_path: Path) -> None:
    write_image(tmp_path / "a" / "zebra.png", "black")
    write_image(tmp_path / "a" / "lion.png", "yellow")
    import_paths(tmp_path / "a")
    zebra = LibraryImage.objects.get(file_name="zebra.png")
    assert _titles("zebra") == ["zebra"]

    library_image_update(image=zebra, title="Striped horse", description="", sidecar_text="")
    assert _titles("striped") == ["Striped horse"]
    assert _titles("horse") == ["Striped horse"]

    library_images_delete(images=[zebra])
    assert _titles("striped") == []
    assert _titles("lion") == ["lion"]
    assert not (Path(settings.MEDIA_ROOT) / zebra.thumbnail_file).exists()
