from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from PIL import Image

from tests.library.conftest import import_paths, write_image
from webapp.emulator import EmulatorHandle
from webapp.library.models import ImportRun, LibraryImage


def _made_up_folder(root: Path) -> Path:
    src = root / "photos"
    tom = write_image(src / "animals" / "cats" / "tom.jpg", "orange")
    (src / "animals" / "cats" / "tom.txt").write_text(
        "Tom the cat\nA ginger cat on a wall.\nzh=墙上的一只橘猫\nfr=Un chat roux\n", "utf-8"
    )
    (src / "animals" / "cats" / "tom_copy.jpg").write_bytes(tom.read_bytes())
    write_image(src / "animals" / "dogs" / "rex_the-dog.png", "brown")
    (src / "broken.jpg").write_bytes(tom.read_bytes()[:200])
    (src / "readme.md").write_text("not a picture")
    (src / ".DS_Store").write_bytes(b"\0\0")
    Image.new("1", (8000, 8000)).save(src / "bomb.png")  # 64 MP: over the 50 MP limit
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2021:06:05 14:30:00"
    Image.new("RGB", (40, 30), "navy").save(src / "night.jpg", exif=exif)
    return src


def test_it_imports_a_folder_with_sidecars_duplicates_and_bad_files(
    db: None, tmp_path: Path
) -> None:
    run = import_paths(_made_up_folder(tmp_path))

    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE
    assert (run.total, run.processed, run.added, run.duplicates, run.failed) == (7, 7, 3, 1, 3)
    reasons = {Path(entry["source"]).name: entry["reason"] for entry in run.bad_files}
    assert set(reasons) == {"broken.jpg", "readme.md", "bomb.png"}
    assert (
        "damaged or incomplete" in reasons["broken.jpg"] or "not a picture" in reasons["broken.jpg"]
    )
    assert "not a picture" in reasons["readme.md"]
    assert "too many pixels" in reasons["bomb.png"]

    tom = LibraryImage.objects.get(file_name__in=["tom.jpg", "tom_copy.jpg"])
    assert tom.title == "Tom the cat"
    assert tom.description == "A ginger cat on a wall."
    assert tom.translations == {"zh": "墙上的一只橘猫", "fr": "Un chat roux"}
    assert tom.tags == ["animals", "cats"]
    assert (tom.width, tom.height, tom.format) == (64, 48, "JPEG")
    assert (Path(settings.MEDIA_ROOT) / tom.thumbnail_file).is_file()
    assert (Path(settings.MEDIA_ROOT) / tom.original_file).read_bytes()[:2] == b"\xff\xd8"

    rex = LibraryImage.objects.get(file_name="rex_the-dog.png")
    assert (rex.title, rex.description, rex.tags) == (
        "rex the dog",
        "animals / dogs",
        ["animals", "dogs"],
    )
    assert rex.format == "PNG"

    night = LibraryImage.objects.get(file_name="night.jpg")
    assert night.taken_at == datetime(2021, 6, 5, 14, 30, tzinfo=UTC)
    assert rex.taken_at is None


def test_importing_twice_adds_nothing(db: None, tmp_path: Path) -> None:
    folder = _made_up_folder(tmp_path)
    import_paths(folder)
    again = import_paths(folder)
    assert (again.added, again.duplicates, again.failed) == (0, 4, 3)
    assert LibraryImage.objects.count() == 3


def test_a_zip_imports_like_a_folder_with_its_folders_as_tags(db: None, tmp_path: Path) -> None:
    folder = _made_up_folder(tmp_path)
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in folder.rglob("*"):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    run = import_paths(archive)
    assert (run.added, run.duplicates, run.failed) == (3, 1, 3)
    tom = LibraryImage.objects.get(title="Tom the cat")
    assert tom.source.endswith("photos.zip!animals/cats/tom.jpg") or tom.source.endswith(
        "photos.zip!animals/cats/tom_copy.jpg"
    )
    assert tom.tags == ["animals", "cats"]


def test_a_url_list_is_fetched_safely(
    db: None, tmp_path: Path, emulator: EmulatorHandle, settings: Any
) -> None:
    settings.FETCH_PRIVATE_ALLOWLIST = frozenset({("127.0.0.1", emulator.port)})
    listing = tmp_path / "urls.txt"
    listing.write_text(
        "# images to import\n"
        f"{emulator.url}/images/sunset-beach.jpg?w=320&h=200\n"
        f"{emulator.url}/images/missing.jpg\n"
        "ftp://example.com/a.jpg\n"
        "http://10.0.0.1/private.jpg\n"
    )
    run = import_paths(listing)
    assert (run.added, run.failed) == (1, 3)
    image = LibraryImage.objects.get()
    assert image.title == "sunset beach"
    assert (image.width, image.height) == (320, 200)
    reasons = " ".join(entry["reason"] for entry in run.bad_files)
    assert "HTTP status 404" in reasons
    assert "not an http(s) address" in reasons
    assert "10.0.0.1" in " ".join(entry["source"] for entry in run.bad_files)


def test_a_missing_path_is_a_bad_entry_not_a_crash(db: None, tmp_path: Path) -> None:
    run = import_paths(tmp_path / "nowhere")
    assert run.status == ImportRun.Status.DONE
    assert run.bad_files == [
        {"source": str(tmp_path / "nowhere"), "reason": "There is no file or folder at this path."}
    ]


def test_the_command_prints_a_summary_and_the_bad_files(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management import call_command

    call_command("library_import", str(_made_up_folder(tmp_path)), "--workers", "1")
    out, err = capsys.readouterr()
    assert "Added 3, already in the library 1, failed 3." in out
    assert "bomb.png: The image has too many pixels" in out
    assert "img/s" in err  # the progress bar, with its rate, on stderr


def test_the_command_runs_a_process_pool(db: None, tmp_path: Path) -> None:
    from django.core.management import call_command

    folder = tmp_path / "many"
    for index in range(20):
        write_image(folder / f"img{index:02d}.png", (index * 12, 100, 200 - index * 5))
    call_command("library_import", str(folder), "--workers", "2", "--no-progress")
    assert LibraryImage.objects.count() == 20
    assert ImportRun.objects.get().added == 20
