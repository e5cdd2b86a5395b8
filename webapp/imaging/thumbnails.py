"""Decode untrusted image bytes: into a small JPEG thumbnail, or into a clean upload.

Both paths share the same guards (design.md, "Safety rules"):

* only real raster formats are tried: Image.open gets an explicit `formats`
  list, so a file can never reach plugins such as EPS (which runs Ghostscript);
* the pixel count is checked from the header, before any pixel is decoded;
* truncated files are errors (Pillow's LOAD_TRUNCATED_IMAGES must stay off).

The thumbnail path is the hot one (every search result), so it never decodes a
JPEG at full size: libjpeg's DCT scaling ("draft" mode) decodes straight to
1/2, 1/4 or 1/8 of the size, and the rest is a resize of a small image.

No Django here: limits are arguments.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image, ImageFile

THUMBNAIL_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
UPLOAD_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
DEFAULT_MAX_PIXELS = 50_000_000
WHITE = (255, 255, 255)

# What a corrupt or hostile file makes Pillow raise while parsing or decoding.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    KeyError,
    struct.error,
    zlib.error,
)
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)

# EXIF orientation -> the transpose that shows the image upright. Same table as
# ImageOps.exif_transpose, applied here to the finished thumbnail (a 320 px
# image) instead of the decoded source.
_ORIENTATION_TAG = 0x0112
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_QUARTER_TURNS = frozenset({5, 6, 7, 8})
_SIXTEEN_BIT = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    content_type: str
    extension: str
    width: int  # the original image's width as displayed (after EXIF orientation)
    height: int
    source_format: str  # Pillow's name for the original format, e.g. "JPEG"
    thumb_width: int
    thumb_height: int


class NotAnImage(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImageTooLarge(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- the thumbnail ----------------------------------------------------------


def make_thumbnail(
    data: bytes,
    *,
    max_side: int = 320,
    quality: int = 82,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Thumbnail:
    """A JPEG whose longest side is at most `max_side`, plus the original's real size."""
    image = _open(data, THUMBNAIL_FORMATS, max_pixels)
    source_format = str(image.format)
    stored_size = image.size  # read before draft() shrinks image.size
    target = fit_within(stored_size, max_side)
    # Only JPEG implements draft; the decoder then scales by 1/2..1/8 while
    # decoding, never below `target`, so quality is kept and work is saved.
    image.draft("RGB", target)
    _load(image)
    orientation = _orientation(image)
    small = _flatten(_resize(_resizable(image), target))
    small = _upright(small, orientation)
    width, height = _displayed(stored_size, orientation)
    return Thumbnail(
        data=_encode_jpeg(small, quality),
        content_type="image/jpeg",
        extension="jpg",
        width=width,
        height=height,
        source_format=source_format,
        thumb_width=small.width,
        thumb_height=small.height,
    )


def fit_within(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """Scale `size` so its longest side is at most `max_side`; never upscale."""
    width, height = size
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode_jpeg(image: Image.Image, quality: int) -> bytes:
    # JPEG, not WebP: at 320 px a JPEG encode costs about 0.3 ms and a WebP
    # encode about 6 ms (design.md, measured here), which would double the
    # cost of the whole thumbnail for a few KB saved on a small image.
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _resize(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    if image.size == target:
        return image
    # BICUBIC, as Pillow's own thumbnail() uses: on this machine LANCZOS costs
    # ~1.4x as much for no visible gain at 320 px, since a drafted JPEG has
    # already been scaled down by libjpeg and only a step under 2x is left.
    # reducing_gap lets Pillow box-reduce big non-JPEG sources cheaply first.
    return image.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)


# --- the upload -------------------------------------------------------------

_UPLOAD_OUTPUT = {"JPEG": ("JPEG", "image/jpeg"), "WEBP": ("WEBP", "image/webp")}
_LOSSLESS_OUTPUT = ("PNG", "image/png")  # GIF, BMP and PNG sources


def reencode_upload(
    data: bytes,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = None,
) -> tuple[bytes, str, int, int]:
    """Re-encode an uploaded image from its pixels alone: (bytes, content_type, width, height).

    With ``max_side``, the image is also shrunk so its longest side fits.
    Nothing of the original file survives but the pixels and the colour
    profile: EXIF (GPS, camera serials), XMP and text chunks are dropped, and
    the EXIF orientation is applied to the pixels so the image stays upright.
    """
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"The file is larger than {max_bytes // (1024 * 1024)} MB, which is Loupe's limit."
        )
    image = _open(data, UPLOAD_FORMATS, max_pixels)
    output_format, content_type = _UPLOAD_OUTPUT.get(str(image.format), _LOSSLESS_OUTPUT)
    target = fit_within(image.size, max_side) if max_side else image.size
    # With a max_side, JPEGs decode at 1/2..1/8 scale straight away: a 24 MP
    # photo then never exists in memory at full size.
    image.draft(image.mode if image.mode in ("RGB", "L") else "RGB", target)
    _load(image)
    clean = _upright(_pixels_only(image, output_format), _orientation(image))
    if max_side and max(clean.size) > max_side:
        clean = _resize(clean, fit_within(clean.size, max_side))
    out = io.BytesIO()
    clean.save(out, output_format, **_save_options(image, clean, output_format))
    return out.getvalue(), content_type, clean.width, clean.height


def _pixels_only(image: Image.Image, output_format: str) -> Image.Image:
    if output_format == "JPEG":
        # CMYK JPEGs render inconsistently across browsers; grey stays grey.
        pixels = image if image.mode in ("RGB", "L") else image.convert("RGB")
    else:
        pixels = image.copy()
    pixels.info = {}  # copy() and convert() carry info (exif, xmp, comments) along
    return pixels


def _save_options(source: Image.Image, clean: Image.Image, output_format: str) -> dict[str, object]:
    options: dict[str, object] = {}
    if icc := source.info.get("icc_profile"):
        options["icc_profile"] = icc
    if output_format == "JPEG":
        options.update(quality=90, optimize=True)
    elif output_format == "WEBP":
        options.update(quality=90, method=4)
    elif "transparency" in source.info and clean.mode in ("P", "L", "RGB"):
        options["transparency"] = source.info["transparency"]
    return options


# --- shared decoding --------------------------------------------------------


def _open(data: bytes, formats: tuple[str, ...], max_pixels: int) -> ImageFile.ImageFile:
    """Parse the header only, refusing anything that is not a small enough raster image."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # A global that someone turned on would make half a file a "valid" image.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    try:
        image = Image.open(io.BytesIO(data), formats=formats)
    except _BOMB_ERRORS as exc:
        raise ImageTooLarge(_too_many_pixels()) from exc
    except _DECODE_ERRORS as exc:
        raise NotAnImage(_not_an_image()) from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise NotAnImage(_not_an_image())
    if width * height > _pixel_limit(max_pixels):
        raise ImageTooLarge(_too_many_pixels())
    assert isinstance(image, ImageFile.ImageFile)
    return image


def _pixel_limit(max_pixels: int) -> int:
    # Above Pillow's own MAX_IMAGE_PIXELS, Image.open only *warns* of a
    # decompression bomb (and raises above twice that). The warning must refuse
    # too, so the smaller of the two limits applies.
    pillow_limit = Image.MAX_IMAGE_PIXELS
    return max_pixels if pillow_limit is None else min(max_pixels, pillow_limit)


def _load(image: ImageFile.ImageFile) -> None:
    try:
        image.load()
    except _BOMB_ERRORS as exc:
        raise ImageTooLarge(_too_many_pixels()) from exc
    except _DECODE_ERRORS as exc:
        raise NotAnImage(_not_an_image(truncated=True)) from exc


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1  # unreadable EXIF: show the pixels as stored
    return value if isinstance(value, int) and value in _UPRIGHT else 1


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    transpose = _UPRIGHT.get(orientation)
    return image if transpose is None else image.transpose(transpose)


def _displayed(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    width, height = size
    return (height, width) if orientation in _QUARTER_TURNS else (width, height)


def _resizable(image: Image.Image) -> Image.Image:
    """Bring odd modes to L, LA, RGB or RGBA, which resize with proper filtering."""
    if image.mode in _SIXTEEN_BIT:
        # convert("L") would clip every value above 255 to white; scale instead.
        return image.point(lambda value: value / 256).convert("L")
    if image.mode in ("P", "PA", "1", "L", "RGB") and _has_transparency(image):
        return image.convert("RGBA")
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        return image
    return image.convert("RGB")


def _has_transparency(image: Image.Image) -> bool:
    return image.mode == "PA" or "transparency" in image.info


def _flatten(image: Image.Image) -> Image.Image:
    """RGB for the JPEG encoder; transparent areas become white, as on the page."""
    if image.mode in ("RGBA", "LA"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, WHITE)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image if image.mode == "RGB" else image.convert("RGB")


def _not_an_image(*, truncated: bool = False) -> str:
    if truncated:
        return "The file is damaged or incomplete, so Loupe cannot read it as an image."
    return "The file is not a picture in a format Loupe reads (such as JPEG, PNG or WebP)."


def _too_many_pixels() -> str:
    return "The image has too many pixels for Loupe to process safely."
