"""The emulated embedding models' one shared space: deterministic, coarse, and cross-modal.

No model runs offline, so the emulated OpenSearch and DashScope endpoints
make vectors that behave enough like real ones for Loupe's search to be
tested end to end:

* an image becomes its 4×4 RGB thumbnail (48 numbers, centred on grey),
  spread over all dimensions by a fixed random projection: the same picture
  always gives the same vector, and a resized, recompressed or lightly
  changed copy gives a close one;
* a text becomes the sum of its words. A colour word ("red", "红", ...) is
  the vector of a plain picture of that colour, so text finds images in
  this space the way it would in a real one, coarsely; any other word is a
  random direction seeded by the word itself;
* an image given by URL is not fetched (no network): its vector is seeded by
  the URL.

Vectors are L2-normalised lists of floats, rounded like the documents' samples.
"""

from __future__ import annotations

import hashlib
import io
import re
from functools import cache

import numpy as np
import numpy.typing as npt
from PIL import Image

GRID = 4
_GRID_VALUES = GRID * GRID * 3
_MAX_PIXELS = 50_000_000
_PROJECTION_SEED = 20240611
_OTHER_WORD_WEIGHT = 0.35  # a noun must not drown the colour it comes with
_WORD = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]")

COLOUR_WORDS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "红": (220, 30, 30),
    "green": (30, 170, 50),
    "绿": (30, 170, 50),
    "blue": (30, 60, 220),
    "蓝": (30, 60, 220),
    "yellow": (240, 220, 40),
    "黄": (240, 220, 40),
    "orange": (245, 140, 20),
    "橙": (245, 140, 20),
    "purple": (130, 40, 170),
    "紫": (130, 40, 170),
    "white": (245, 245, 245),
    "白": (245, 245, 245),
    "black": (15, 15, 15),
    "黑": (15, 15, 15),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "灰": (128, 128, 128),
}


class UnreadableImage(ValueError):
    pass


def image_vector(data: bytes, dims: int) -> list[float]:
    """Raises UnreadableImage when ``data`` is not a picture Pillow can decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > _MAX_PIXELS:
                raise UnreadableImage("too many pixels")
            image.draft("RGB", (64, 64))
            small = image.convert("RGB").resize((GRID, GRID), Image.Resampling.BOX)
    except UnreadableImage:
        raise
    except Exception as exc:  # Pillow raises many types for a damaged file
        raise UnreadableImage(str(exc)) from exc
    grid = np.asarray(small, dtype=np.float32).reshape(-1) / 255.0 - 0.5
    return _finish(_projection(dims) @ grid)


def text_vector(text: str, dims: int) -> list[float]:
    total = np.zeros(dims, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        colour = COLOUR_WORDS.get(word)
        if colour is not None:
            grid = np.tile(np.asarray(colour, np.float32) / 255.0 - 0.5, GRID * GRID)
            part = _projection(dims) @ grid
            total += part / max(float(np.linalg.norm(part)), 1e-9)
        else:
            total += _OTHER_WORD_WEIGHT * _seeded_direction(f"word:{word}", dims)
    if not np.any(total):
        total = _seeded_direction(f"text:{text}", dims)
    return _finish(total)


def url_vector(url: str, dims: int) -> list[float]:
    return _finish(_seeded_direction(f"url:{url}", dims))


@cache
def _projection(dims: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(_PROJECTION_SEED)
    return rng.standard_normal((dims, _GRID_VALUES)).astype(np.float32)


def _seeded_direction(seed: str, dims: int) -> npt.NDArray[np.float32]:
    number = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:8], "little")
    vector = np.random.default_rng(number).standard_normal(dims).astype(np.float32)
    return vector / float(np.linalg.norm(vector))


def _finish(vector: npt.NDArray[np.float32]) -> list[float]:
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:  # a perfectly grey picture: any fixed direction will do
        vector, norm = _seeded_direction("grey", len(vector)), 1.0
    return [round(float(value), 7) for value in vector / norm]
