"""The edits a near-duplicate search must see through (issue 4, "Image to image").

Used by the tests and by the bench to make transformed copies of real sample
images, so "finds a cropped copy" means the same thing in both. No Django.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFont


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def resized(image: Image.Image) -> Image.Image:
    """Down to 45 % of each side (a 1600 px photo becomes a 720 px web copy)."""
    width, height = image.size
    return _rgb(image).resize(
        (max(16, round(width * 0.45)), max(16, round(height * 0.45))), Image.Resampling.LANCZOS
    )


def jpeg_q30(image: Image.Image) -> Image.Image:
    out = io.BytesIO()
    _rgb(image).save(out, "JPEG", quality=30)
    out.seek(0)
    return Image.open(out).convert("RGB")


def _crop(image: Image.Image, left: float, top: float, keep: float) -> Image.Image:
    width, height = image.size
    box = (
        round(left * width),
        round(top * height),
        round((left + keep) * width),
        round((top + keep) * height),
    )
    return _rgb(image).crop(box)


def cropped_centre(image: Image.Image) -> Image.Image:
    """20 % of each side cut away, 10 % on every edge."""
    return _crop(image, 0.1, 0.1, 0.8)


def cropped_corner(image: Image.Image) -> Image.Image:
    """20 % of each side cut away from the left and the top, off the window grid."""
    return _crop(image, 0.17, 0.13, 0.8)


def colour_shifted(image: Image.Image) -> Image.Image:
    """Warmer, a little brighter and more saturated, as a light edit or filter does."""
    shifted = ImageEnhance.Color(_rgb(image)).enhance(1.3)
    shifted = ImageEnhance.Brightness(shifted).enhance(1.1)
    red, green, blue = shifted.split()
    red = red.point(lambda value: min(255, value + 12))
    blue = blue.point(lambda value: max(0, value - 8))
    return Image.merge("RGB", (red, green, blue))


def text_overlay(image: Image.Image) -> Image.Image:
    """A caption across the lower part, white with a dark outline, as meme and stock sites add."""
    canvas = _rgb(image).copy()
    draw = ImageDraw.Draw(canvas)
    size = max(12, canvas.height // 10)
    font = ImageFont.load_default(size=size)
    draw.text(
        (canvas.width * 0.05, canvas.height * 0.72),
        "© 2024 sample text",
        font=font,
        fill=(255, 255, 255),
        stroke_width=max(1, size // 12),
        stroke_fill=(0, 0, 0),
    )
    return canvas


def mirrored(image: Image.Image) -> Image.Image:
    return _rgb(image).transpose(Image.Transpose.FLIP_LEFT_RIGHT)


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resized": resized,
    "jpeg_q30": jpeg_q30,
    "cropped_centre_20": cropped_centre,
    "cropped_corner_20": cropped_corner,
    "colour_shifted": colour_shifted,
    "text_overlay": text_overlay,
    "mirrored": mirrored,
}


def to_jpeg(image: Image.Image, quality: int = 92) -> bytes:
    out = io.BytesIO()
    _rgb(image).save(out, "JPEG", quality=quality)
    return out.getvalue()


def to_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
