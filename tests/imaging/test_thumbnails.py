"""make_thumbnail and reencode_upload on images made here with Pillow."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageDraw, ImageFile, JpegImagePlugin

from webapp.imaging.thumbnails import (
    ImageTooLarge,
    NotAnImage,
    make_thumbnail,
    reencode_upload,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)
GPS_SECRET = (52.0, 22.0, 1.5)


def encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def photo(size: tuple[int, int]) -> Image.Image:
    """Something with detail, so a JPEG of it has realistic scan data."""
    image = Image.effect_noise(size, 30).convert("RGB")
    ImageDraw.Draw(image).ellipse((10, 10, size[0] // 2, size[1] // 2), fill=RED)
    return image


def halves(size: tuple[int, int]) -> Image.Image:
    """Left half red, right half blue: shows which way an image was turned."""
    image = Image.new("RGB", size, BLUE)
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 2 - 1, size[1]), fill=RED)
    return image


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def close_to(actual: Any, expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims a size; the pixel data is a token IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def real_png_bomb(side: int) -> bytes:
    """A genuine 1-bit side x side PNG of zeros: ~100 KB that would decode to side^2 pixels."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte, then packed bits
    packer = zlib.compressobj(9)
    parts = [packer.compress(row * 100) for _ in range(side // 100)]
    parts.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "SecretCam"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: GPS_SECRET,
    }
    return exif


# --- make_thumbnail: sizes --------------------------------------------------


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_it_reports_the_real_size_and_shrinks_each_format(image_format: str) -> None:
    data = encode(photo((1200, 800)), image_format)

    thumb = make_thumbnail(data)

    assert (thumb.width, thumb.height) == (1200, 800)
    assert thumb.source_format == image_format
    assert (thumb.thumb_width, thumb.thumb_height) == (320, 213)
    assert (thumb.content_type, thumb.extension) == ("image/jpeg", "jpg")
    out = decoded(thumb.data)
    assert (out.format, out.size, out.mode) == ("JPEG", (320, 213), "RGB")


def test_it_fits_the_longest_side_of_a_tall_image() -> None:
    thumb = make_thumbnail(encode(photo((600, 1800)), "JPEG"), max_side=200)

    assert (thumb.width, thumb.height) == (600, 1800)
    assert (thumb.thumb_width, thumb.thumb_height) == (67, 200)


def test_it_never_upscales_a_small_image() -> None:
    thumb = make_thumbnail(encode(photo((100, 50)), "PNG"))

    assert (thumb.thumb_width, thumb.thumb_height) == (100, 50)
    assert decoded(thumb.data).size == (100, 50)


def test_it_decodes_a_big_jpeg_in_draft_mode_not_at_full_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded_sizes: list[tuple[int, int]] = []
    original_load = ImageFile.ImageFile.load

    def spying_load(self: ImageFile.ImageFile) -> Any:
        decoded_sizes.append(self.size)  # the size the decoder will produce
        return original_load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spying_load, raising=False)
    data = encode(photo((2400, 1800)), "JPEG", quality=85)

    thumb = make_thumbnail(data, max_side=320)

    assert (thumb.width, thumb.height) == (2400, 1800)
    assert decoded_sizes, "the JPEG was never loaded through the spy"
    # DCT scaling by 1/2..1/8 lands between the target and twice the target.
    assert all(320 <= max(size) < 640 for size in decoded_sizes), decoded_sizes


# --- make_thumbnail: orientation, colour, transparency ----------------------


@pytest.mark.parametrize("stored", [(400, 200), (2400, 1200)])
def test_it_turns_the_image_upright_and_reports_the_displayed_size(
    stored: tuple[int, int],
) -> None:
    # Orientation 6: the camera was turned; show the image rotated 90° clockwise.
    data = encode(halves(stored), "JPEG", exif=exif_with_gps(orientation=6))

    thumb = make_thumbnail(data)

    assert (thumb.width, thumb.height) == (stored[1], stored[0])
    assert (thumb.thumb_width, thumb.thumb_height) == (160, 320)
    out = decoded(thumb.data)
    assert close_to(out.getpixel((80, 20)), RED)  # the left half is now on top
    assert close_to(out.getpixel((80, 300)), BLUE)


def test_it_puts_transparent_areas_on_white() -> None:
    rgba = Image.new("RGBA", (400, 400), (255, 0, 0, 0))
    ImageDraw.Draw(rgba).rectangle((0, 0, 199, 399), fill=(0, 0, 255, 255))

    out = decoded(make_thumbnail(encode(rgba, "PNG")).data)

    assert close_to(out.getpixel((40, 160)), BLUE)
    assert close_to(out.getpixel((280, 160)), (255, 255, 255))


def test_it_puts_a_transparent_gif_palette_entry_on_white() -> None:
    paletted = Image.new("P", (50, 50), 0)
    paletted.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)  # index 0 black, 1 red
    ImageDraw.Draw(paletted).rectangle((25, 0, 49, 49), fill=1)

    out = decoded(make_thumbnail(encode(paletted, "GIF", transparency=0)).data)

    assert close_to(out.getpixel((5, 25)), (255, 255, 255))
    assert close_to(out.getpixel((45, 25)), RED)


def test_it_converts_a_cmyk_jpeg_to_rgb() -> None:
    cmyk = Image.new("CMYK", (400, 300), (0, 255, 255, 0))  # red in ink

    thumb = make_thumbnail(encode(cmyk, "JPEG"))

    out = decoded(thumb.data)
    assert out.mode == "RGB"
    assert close_to(out.getpixel((100, 100)), RED)


def test_it_scales_16_bit_grey_instead_of_clipping_it_to_white() -> None:
    grey = Image.new("I;16", (64, 64), 32768)  # mid grey in 16 bits

    out = decoded(make_thumbnail(encode(grey, "PNG")).data)

    assert close_to(out.getpixel((10, 10)), (128, 128, 128), tolerance=4)


# --- make_thumbnail: refusals -----------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"just some text, not a picture\n",
        b"<!doctype html><html><body><img src=x></body></html>",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
        b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
    ],
    ids=["empty", "text", "html", "svg", "pdf", "eps"],
)
def test_it_refuses_what_is_not_an_image(data: bytes) -> None:
    with pytest.raises(NotAnImage) as caught:
        make_thumbnail(data)

    assert caught.value.message.endswith(".")


def test_it_refuses_an_image_format_outside_the_raster_list() -> None:
    icon = encode(photo((32, 32)), "ICO")
    assert Image.open(io.BytesIO(icon)).format == "ICO"  # Pillow itself would read it

    with pytest.raises(NotAnImage):
        make_thumbnail(icon)


@pytest.mark.parametrize("image_format", ["JPEG", "PNG"])
def test_it_refuses_a_truncated_file(image_format: str) -> None:
    data = encode(photo((800, 600)), image_format)

    with pytest.raises(NotAnImage):
        make_thumbnail(data[: len(data) // 2])


def test_loading_truncated_images_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)

    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        make_thumbnail(encode(photo((40, 40)), "JPEG"))


def test_it_refuses_a_real_png_bomb_without_allocating_its_pixels() -> None:
    bomb = real_png_bomb(30_000)  # 900 megapixels in about 100 KB
    assert len(bomb) < 1_000_000

    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge) as caught:
            make_thumbnail(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 5 * 1024 * 1024
    assert "too many pixels" in caught.value.message


def test_it_refuses_a_header_over_the_pixel_cap_passed_in() -> None:
    data = encode(photo((100, 100)), "PNG")

    assert make_thumbnail(data, max_pixels=10_000).width == 100
    with pytest.raises(ImageTooLarge):
        make_thumbnail(data, max_pixels=9_999)


def test_it_treats_pillows_bomb_warning_as_too_large() -> None:
    # 100 MP: over Pillow's MAX_IMAGE_PIXELS (~89 MP), so Image.open only
    # warns; it must still be refused even when the caller's cap is higher.
    claim = png_header_only(10_000, 10_000)
    assert Image.MAX_IMAGE_PIXELS is not None
    assert Image.MAX_IMAGE_PIXELS < 10_000 * 10_000 < 2 * Image.MAX_IMAGE_PIXELS

    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(ImageTooLarge):
        make_thumbnail(claim, max_pixels=1_000_000_000)


# --- reencode_upload --------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")],
)
def test_reencoding_strips_exif_gps_xmp_and_comments(image_format: str, content_type: str) -> None:
    source = encode(
        photo((300, 200)),
        image_format,
        exif=exif_with_gps(),
        xmp=b"<x:xmpmeta>secret-place</x:xmpmeta>",
        comment=b"secret-note",  # a JPEG COM marker; the other formats ignore it
    )
    source_exif = Image.open(io.BytesIO(source)).getexif()
    assert source_exif.get_ifd(ExifTags.IFD.GPSInfo)  # the test file really has GPS

    clean, clean_type, width, height = reencode_upload(source)

    assert (clean_type, width, height) == (content_type, 300, 200)
    out = decoded(clean)
    assert out.format == image_format
    assert not out.getexif()
    assert "xmp" not in out.info
    for secret in (b"Exif", b"SecretCam", b"secret-place", b"secret-note"):
        assert secret not in clean


def test_reencoding_applies_the_orientation_it_strips() -> None:
    source = encode(halves((400, 200)), "JPEG", exif=exif_with_gps(orientation=6))

    clean, _, width, height = reencode_upload(source)

    assert (width, height) == (200, 400)
    out = decoded(clean)
    assert close_to(out.getpixel((100, 20)), RED)
    assert close_to(out.getpixel((100, 380)), BLUE)


@pytest.mark.parametrize("image_format", ["GIF", "BMP"])
def test_reencoding_turns_gif_and_bmp_into_lossless_png(image_format: str) -> None:
    first, second = Image.new("RGB", (40, 30), RED), Image.new("RGB", (40, 30), BLUE)
    out = io.BytesIO()
    first.save(out, image_format, save_all=image_format == "GIF", append_images=[second])

    clean, content_type, width, height = reencode_upload(out.getvalue())

    assert (content_type, width, height) == ("image/png", 40, 30)
    image = decoded(clean)
    assert image.format == "PNG"
    assert close_to(image.convert("RGB").getpixel((5, 5)), RED)  # the first frame


def test_reencoding_keeps_gif_transparency() -> None:
    paletted = Image.new("P", (20, 20), 0)
    paletted.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)

    clean, _, _, _ = reencode_upload(encode(paletted, "GIF", transparency=0))

    assert decoded(clean).convert("RGBA").getpixel((5, 5)) == (0, 0, 0, 0)


def test_reencoding_rejects_a_file_over_the_byte_cap() -> None:
    data = encode(photo((300, 300)), "PNG")

    assert reencode_upload(data, max_bytes=len(data))[1] == "image/png"
    with pytest.raises(ImageTooLarge) as caught:
        reencode_upload(data, max_bytes=len(data) - 1)

    assert "larger than" in caught.value.message


def test_reencoding_rejects_tiff_and_non_images() -> None:
    with pytest.raises(NotAnImage):
        reencode_upload(encode(photo((30, 30)), "TIFF"))
    with pytest.raises(NotAnImage):
        reencode_upload(b"<html>not an image</html>")


def test_reencoding_refuses_a_pixel_bomb() -> None:
    with pytest.raises(ImageTooLarge):
        reencode_upload(real_png_bomb(8_000), max_pixels=50_000_000)  # 64 MP
