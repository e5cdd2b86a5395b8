"""``GET /images/<id>.jpg?w=<W>&h=<H>&seed=<s>``: the pictures emulated results point at.

Every picture is exactly W x H, so the size IQS reports is the real pixel size.
It looks vaguely like a landscape photo (gradients, shapes, grain) and says
"Loupe emulator" on it, so nobody mistakes it for a real result.

Special ids exercise the thumbnail fetcher: ``broken`` (HTML labelled as a
JPEG), ``truncated`` (a JPEG cut in half) and ``missing`` (404).
"""

from __future__ import annotations

import io
import random
import threading
import zlib
from collections import OrderedDict
from functools import cache

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps

from webapp.emulator.core import Request, Response, Route, route

MAX_SIDE = 4000
DEFAULT_SIZE = (640, 480)
SCENE_LONG_SIDE = 192  # drawn small, then scaled up: cheap, and smooth like a photo
GRAIN_TILE = 256
CACHE_MAX_BYTES = 128 * 1024 * 1024
JPEG = "image/jpeg"


# --- the handler ---------------------------------------------------------------------------


def handle_image(request: Request) -> Response:
    image_id = request.match["id"]
    special = _special(image_id)
    if special is not None:
        return special
    try:
        width, height = _size(request.params)
    except ValueError as exc:
        return Response(status=400, body=str(exc).encode(), content_type="text/plain")
    seed = _seed(request.params.get("seed", ""), image_id)
    body = render_jpeg(width, height, seed)
    return Response(body=body, content_type=JPEG, headers={"Cache-Control": "max-age=3600"})


def _special(image_id: str) -> Response | None:
    if image_id == "missing":
        return Response(status=404, body=b"<h1>Not Found</h1>", content_type="text/html")
    if image_id == "broken":  # the Content-Type lies; only decoding tells
        return Response(body=b"<html><body>Not an image</body></html>", content_type=JPEG)
    if image_id == "truncated":
        whole = render_jpeg(*DEFAULT_SIZE, seed=7)
        return Response(body=whole[: len(whole) // 2], content_type=JPEG)
    return None


def _size(params: dict[str, str]) -> tuple[int, int]:
    sides = []
    for key, default in zip(("w", "h"), DEFAULT_SIZE, strict=True):
        raw = params.get(key, "")
        if not raw:
            sides.append(default)
            continue
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_SIDE:
            raise ValueError(f"{key} must be a whole number from 1 to {MAX_SIDE}")
        sides.append(int(raw))
    return sides[0], sides[1]


def _seed(raw: str, image_id: str) -> int:
    if raw.isascii() and raw.isdigit():
        return int(raw)
    return zlib.crc32((raw or image_id).encode("utf-8"))


# --- rendering -------------------------------------------------------------------------------


def render_jpeg(width: int, height: int, seed: int) -> bytes:
    key = (width, height, seed)
    cached = _CACHE.get(key)
    if cached is None:
        cached = _render(width, height, seed)
        _CACHE.put(key, cached)
    return cached


def _render(width: int, height: int, seed: int) -> bytes:
    """The picture at its full size, made cheaply: under `make loadtest` the emulator shares
    the machine with Loupe, and every new result is a new picture.

    The grain and the stamp go on at half size and are scaled up with the rest (about
    half the cost of drawing at full size; a photo-like file of a few hundred kB all
    the same).
    """
    rng = random.Random(seed)
    half = (max(1, width // 2), max(1, height // 2))
    image = _scene(width, height, rng).resize(half, Image.Resampling.BILINEAR)
    image = ImageChops.add(image, _grain(*half), scale=1.0, offset=-128)
    _stamp(image, label=(width, height))
    image = image.resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _scene(width: int, height: int, rng: random.Random) -> Image.Image:
    """A sky, a sun and a few hills, drawn at thumbnail size."""
    scale = SCENE_LONG_SIDE / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    sky_top, sky_bottom = _colour(rng, 40, 140), _colour(rng, 150, 250)
    sky = ImageOps.colorize(Image.linear_gradient("L").resize(size), sky_top, sky_bottom)
    draw = ImageDraw.Draw(sky)
    w, h = size
    sun_x, sun_y, sun_r = rng.uniform(0, w), rng.uniform(0, h / 2), rng.uniform(4, w / 6 + 5)
    draw.ellipse(
        (sun_x - sun_r, sun_y - sun_r, sun_x + sun_r, sun_y + sun_r), _colour(rng, 200, 255)
    )
    for layer in range(rng.randint(2, 4)):
        base = h * (0.45 + 0.15 * layer)
        ridge = [(x, base - rng.uniform(0, h / 4)) for x in range(0, w + 24, 24)]
        draw.polygon([(0, h), *ridge, (w, h)], fill=_colour(rng, 20, 120 + 30 * layer))
    for _ in range(rng.randint(2, 5)):
        x, y, r = rng.uniform(0, w), rng.uniform(h / 2, h), rng.uniform(3, w / 10 + 4)
        draw.ellipse((x - r, y - r / 2, x + r, y + r / 2), _colour(rng, 10, 200))
    return sky.filter(ImageFilter.GaussianBlur(1.5))


def _colour(rng: random.Random, low: int, high: int) -> tuple[int, int, int]:
    return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))


def _grain(width: int, height: int) -> Image.Image:
    """Film grain from one tile pasted over: fast, and deterministic unlike effect_noise."""
    canvas = Image.new("RGB", (width, height))
    tile = _grain_tile()
    for top in range(0, height, GRAIN_TILE):
        for left in range(0, width, GRAIN_TILE):
            canvas.paste(tile, (left, top))
    return canvas


@cache
def _grain_tile() -> Image.Image:
    noise = random.Random(1).randbytes(GRAIN_TILE * GRAIN_TILE)
    tile = Image.frombytes("L", (GRAIN_TILE, GRAIN_TILE), noise)
    return tile.point(lambda value: 128 + (value - 128) // 10).convert("RGB")


def _stamp(image: Image.Image, *, label: tuple[int, int]) -> None:
    """Write "Loupe emulator" and the picture's full size (``label``) in a corner."""
    width, height = image.size
    size = max(10, min(width, height) // 12)
    margin = max(2, size // 2)
    draw = ImageDraw.Draw(image)
    for line, y in (
        ("Loupe emulator", height - margin - size),
        (f"{label[0]} x {label[1]}", height - margin),
    ):
        draw.text(
            (margin, y), line, font=_font(size), fill="white", anchor="ld",
            stroke_width=max(1, size // 12), stroke_fill="black",
        )  # fmt: skip


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


class _LruBytes:
    """A byte-bounded LRU: a 2 MP picture takes tens of ms to make and a gallery asks again."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int, int]) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[int, int, int], value: bytes) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += len(value)
            while self._bytes > self._max_bytes and len(self._items) > 1:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= len(evicted)


_CACHE = _LruBytes(CACHE_MAX_BYTES)

ROUTES: list[Route] = [route("GET", r"/images/(?P<id>[A-Za-z0-9_.\-]+)\.jpg", handle_image)]
FAULTS: frozenset[str] = frozenset()  # image faults are ids (broken, truncated, missing)
