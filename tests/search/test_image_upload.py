"""Uploads for search by image: every bad input gets a sentence and nothing is queued."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from webapp.search.models import Search


def jpeg_bytes(size: tuple[int, int] = (640, 480), *, gps: bool = False) -> bytes:
    image = Image.new("RGB", size, (200, 120, 40))
    out = io.BytesIO()
    exif = Image.Exif()
    if gps:
        exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
        exif[0x010F] = "SecretCam"
    image.save(out, "JPEG", exif=exif.tobytes() if gps else b"")
    return out.getvalue()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims an enormous picture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + width // 8) * 16)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def _upload(client: Client, data: bytes, name: str = "photo.jpg", **fields: str) -> Any:
    upload = SimpleUploadedFile(name, data, content_type="image/jpeg")
    return client.post("/searches/", {"image": upload, **fields})


def test_an_upload_starts_an_image_search_with_the_text(
    owner_client: Client, owner: User, queued_tasks: list[int]
) -> None:
    response = _upload(owner_client, jpeg_bytes(), query="find landscapes in this style")
    search = Search.objects.get()
    assert response.status_code == 302
    assert (search.provider, search.query) == ("image_search", "find landscapes in this style")
    assert search.query_image.startswith("uploads/")


def test_an_image_alone_is_enough(owner_client: Client, queued_tasks: list[int]) -> None:
    assert _upload(owner_client, jpeg_bytes()).status_code == 302
    assert Search.objects.get().query == ""


def test_the_stored_image_has_no_exif_or_gps(
    owner_client: Client, queued_tasks: list[int], settings: Any
) -> None:
    original = jpeg_bytes(gps=True)
    assert Image.open(io.BytesIO(original)).getexif().get(0x8825)
    _upload(owner_client, original)
    stored = Path(settings.MEDIA_ROOT) / Search.objects.get().query_image
    exif = Image.open(stored).getexif()
    assert 0x8825 not in exif
    assert 0x010F not in exif
    assert b"SecretCam" not in stored.read_bytes()


def test_a_huge_photo_is_downscaled_before_sending(
    owner_client: Client, queued_tasks: list[int], settings: Any
) -> None:
    _upload(owner_client, jpeg_bytes((4000, 3000)))
    stored = Image.open(Path(settings.MEDIA_ROOT) / Search.objects.get().query_image)
    assert max(stored.size) == settings.UPLOAD_MAX_SIDE


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (b"hello, this is text", "notes.jpg", "not a picture"),
        (b"<html><body>hi</body></html>", "page.png", "not a picture"),
        (jpeg_bytes()[:2000], "cut.jpg", "incomplete"),
        (png_bomb(), "bomb.png", "pixels"),
        (b"", "empty.jpg", "empty"),
    ],
    ids=["text", "html", "truncated", "pixel-bomb", "empty"],
)
def test_bad_uploads_get_a_sentence_and_queue_nothing(
    owner_client: Client, queued_tasks: list[int], data: bytes, name: str, words: str
) -> None:
    response = _upload(owner_client, data, name=name)
    assert response.status_code == 400
    assert words in response.content.decode().lower()
    assert not Search.objects.exists()
    assert queued_tasks == []


def test_an_oversized_file_is_refused_before_decoding(
    owner_client: Client, queued_tasks: list[int], settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = 50_000
    response = _upload(owner_client, jpeg_bytes((2000, 2000)) + b"\0" * 60_000)
    assert response.status_code == 400
    assert "larger than" in response.content.decode()
    assert not Search.objects.exists()


def test_iqs_refuses_an_image(owner_client: Client, queued_tasks: list[int]) -> None:
    response = _upload(owner_client, jpeg_bytes(), query="lion", provider="iqs")
    assert response.status_code == 400
    assert "text only" in response.content.decode()
    assert not Search.objects.exists()


def test_an_image_url_is_kept_for_the_worker_to_fetch(
    owner_client: Client, queued_tasks: list[int]
) -> None:
    response = owner_client.post("/searches/", {"image_url": "https://example.com/cat.jpg"})
    search = Search.objects.get()
    assert response.status_code == 302
    assert (search.provider, search.query_image_url, search.query_image) == (
        "image_search",
        "https://example.com/cat.jpg",
        "",
    )


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)", "not a url"])
def test_a_bad_image_url_is_a_form_error(
    owner_client: Client, queued_tasks: list[int], url: str
) -> None:
    response = owner_client.post("/searches/", {"image_url": url})
    assert response.status_code == 400
    assert "http://" in response.content.decode()
    assert not Search.objects.exists()


def test_the_api_takes_a_multipart_upload(owner_client: Client, queued_tasks: list[int]) -> None:
    upload = SimpleUploadedFile("x.bin", jpeg_bytes(), content_type="application/octet-stream")
    response = owner_client.post(
        "/api/v1/searches", {"image": upload, "query": "similar", "provider": "image_search"}
    )
    assert response.status_code == 202, response.content
    search = Search.objects.get(pk=response.json()["id"])
    assert (search.provider, search.query) == ("image_search", "similar")


def test_the_api_refuses_a_bad_upload(owner_client: Client, queued_tasks: list[int]) -> None:
    upload = SimpleUploadedFile("x.jpg", b"GIF89a-not-really", content_type="image/jpeg")
    response = owner_client.post("/api/v1/searches", {"image": upload, "provider": "image_search"})
    assert response.status_code == 400
    assert "not a picture" in response.json()["detail"].lower()
    assert not Search.objects.exists()
