"""Library test helpers: a fresh in-memory index per test, sample pictures, small imports."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from webapp.emulator import EmulatorHandle
from webapp.library.demo import skimage_data_folder
from webapp.library.embedding import query_cache_clear
from webapp.library.models import ImportRun
from webapp.library.selectors import library_index_reset
from webapp.library.services import library_import
from webapp.providers.tiny_clip import build_tiny_clip

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


# --- embedding backends (semantic matching) ------------------------------------------------


@pytest.fixture
def no_embedding_backend(settings: Any) -> None:
    settings.EMBEDDING_BACKEND = "none"


@pytest.fixture
def opensearch_backend(settings: Any, emulator: EmulatorHandle) -> EmulatorHandle:
    """EMBEDDING_BACKEND=opensearch with no key: the emulator answers, over a real socket."""
    settings.EMBEDDING_BACKEND = "opensearch"
    settings.OPENSEARCH_EMBEDDING_EMULATED = True
    settings.OPENSEARCH_EMBEDDING_EFFECTIVE_HOST = emulator.url
    settings.OPENSEARCH_EMBEDDING_MODEL = "ops-m2-encoder"
    settings.OPENSEARCH_EMBEDDING_QPS = 1000  # tests must not wait on the real clock
    query_cache_clear()
    return emulator


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random CLIP export in which "red" and "blue" sit next to those colours."""
    folder = tmp_path_factory.mktemp("models") / "tiny-clip"
    return build_tiny_clip(folder, aligned={"red": (220, 30, 30), "blue": (30, 60, 220)})


@pytest.fixture
def local_backend(settings: Any, tiny_clip_dir: Path) -> Path:
    settings.EMBEDDING_BACKEND = "local"
    settings.LOCAL_CLIP_MODEL = str(tiny_clip_dir)
    query_cache_clear()
    return tiny_clip_dir


def embedding_calls(emulator: EmulatorHandle) -> int:
    return sum(1 for r in emulator.requests if "/multi-modal-embedding/" in r.path)
