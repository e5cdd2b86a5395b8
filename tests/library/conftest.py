"""Library test helpers: a fresh in-memory index per test, sample pictures, small imports."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from webapp.library.demo import skimage_data_folder
from webapp.library.models import ImportRun
from webapp.library.selectors import library_index_reset
from webapp.library.services import library_import

SAMPLES = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "camera.png",
    "coins.png",
    "horse.png",
    "hubble_deep_field.jpg",
    "brick.png",
    "moon.png",
)


@pytest.fixture(autouse=True)
def _fresh_index() -> Iterator[None]:
    """Each test's database starts empty, so no process-wide index may carry over."""
    library_index_reset()
    yield
    library_index_reset()


def sample_image(name: str) -> Image.Image:
    with Image.open(skimage_data_folder() / name) as image:
        return image.convert("RGB")


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def write_image(
    path: Path, colour: str | tuple[int, int, int] = "orange", size: tuple[int, int] = (64, 48)
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "JPEG" if path.suffix == ".jpg" else "PNG")
    return path


def import_paths(*paths: Path) -> ImportRun:
    return library_import(paths=[str(p) for p in paths], workers=1)
