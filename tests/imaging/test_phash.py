"""dHash: copies of a picture land close together, different pictures far apart."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageEnhance

from webapp.emulator.images import render_jpeg
from webapp.imaging.phash import (
    dhash_bytes,
    dhash_image,
    hamming,
    is_informative,
    near_duplicate,
)
from webapp.imaging.thumbnails import make_thumbnail


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _thumb_hash(data: bytes) -> str:
    return dhash_bytes(make_thumbnail(data).data)


def test_a_hash_is_64_bits_in_hex() -> None:
    value = _thumb_hash(render_jpeg(800, 600, 1))
    assert len(value) == 16
    int(value, 16)


def test_a_rehosted_copy_is_within_a_few_bits() -> None:
    original = render_jpeg(1200, 900, 42)
    image = Image.open(io.BytesIO(original))
    resized = _jpeg(image.resize((700, 525)), quality=35)
    brighter = _jpeg(ImageEnhance.Brightness(image).enhance(1.1))
    for copy in (resized, brighter):
        assert hamming(_thumb_hash(original), _thumb_hash(copy)) <= 6


def test_different_pictures_are_far_apart() -> None:
    hashes = [_thumb_hash(render_jpeg(800, 600, seed)) for seed in range(6)]
    for i, a in enumerate(hashes):
        for b in hashes[i + 1 :]:
            assert hamming(a, b) > 12
            assert not near_duplicate(a, b, max_distance=6)


def test_a_flat_picture_is_not_evidence_of_a_copy() -> None:
    flat = dhash_image(Image.new("RGB", (64, 48), "orange"))
    assert not is_informative(flat)
    assert not near_duplicate(flat, flat, max_distance=6)
    assert not near_duplicate("", "", max_distance=6)


def test_the_hash_sees_structure() -> None:
    image = Image.new("L", (90, 80), 0)
    ImageDraw.Draw(image).rectangle((0, 0, 44, 80), fill=255)  # bright left half
    assert is_informative(dhash_image(image))


def test_bytes_that_do_not_decode_give_no_hash() -> None:
    assert dhash_bytes(b"not an image") == ""
    assert dhash_bytes(b"") == ""
