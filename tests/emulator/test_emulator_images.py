"""The emulator's pictures: exactly the size asked for, and the deliberately bad ones."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image, UnidentifiedImageError

from webapp.emulator import EmulatorHandle
from webapp.emulator.images import _LruBytes
from webapp.providers.events import HitsFound
from webapp.providers.iqs import IqsClient, IqsRequest


def fetch(emulator: EmulatorHandle, path: str) -> httpx.Response:
    return httpx.get(emulator.url + path)


def decoded(response: httpx.Response) -> Image.Image:
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


@pytest.mark.parametrize(
    ("width", "height"), [(1, 1), (720, 1280), (1280, 853), (400, 711), (4000, 3), (1600, 1600)]
)
def test_a_picture_is_exactly_the_size_asked_for(
    emulator: EmulatorHandle, width: int, height: int
) -> None:
    response = fetch(emulator, f"/images/any-{width}.jpg?w={width}&h={height}&seed=3")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    image = decoded(response)
    assert image.format == "JPEG"
    assert image.size == (width, height)


def test_every_lion_result_is_served_at_its_reported_size(
    emulator: EmulatorHandle, iqs_client: IqsClient
) -> None:
    events = list(iqs_client.search(IqsRequest(query="lion")))
    hits = next(event.hits for event in events if isinstance(event, HitsFound))

    for hit in hits[:6]:  # six are enough to cover portrait and landscape
        assert decoded(httpx.get(hit.image_url)).size == (hit.width, hit.height)


def test_a_picture_is_deterministic_per_seed(emulator: EmulatorHandle) -> None:
    first = fetch(emulator, "/images/a.jpg?w=320&h=200&seed=1").content
    again = fetch(emulator, "/images/a.jpg?w=320&h=200&seed=1").content
    other = fetch(emulator, "/images/a.jpg?w=320&h=200&seed=2").content

    assert first == again
    assert first != other


def test_a_picture_without_a_size_gets_the_default(emulator: EmulatorHandle) -> None:
    assert decoded(fetch(emulator, "/images/plain.jpg")).size == (640, 480)


@pytest.mark.parametrize("query", ["w=4001&h=10", "w=0&h=10", "w=abc&h=10", "w=10&h=-1"])
def test_an_impossible_size_is_refused(emulator: EmulatorHandle, query: str) -> None:
    assert fetch(emulator, f"/images/x.jpg?{query}").status_code == 400


def test_broken_is_html_that_claims_to_be_a_jpeg(emulator: EmulatorHandle) -> None:
    response = fetch(emulator, "/images/broken.jpg")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    with pytest.raises(UnidentifiedImageError):
        decoded(response)


def test_truncated_is_a_jpeg_cut_short(emulator: EmulatorHandle) -> None:
    response = fetch(emulator, "/images/truncated.jpg")

    assert response.status_code == 200
    assert response.content.startswith(b"\xff\xd8")  # it starts like a JPEG...
    with pytest.raises(OSError, match="truncated"):
        decoded(response)  # ...but does not decode


def test_missing_is_a_404(emulator: EmulatorHandle) -> None:
    assert fetch(emulator, "/images/missing.jpg").status_code == 404


def test_head_gives_the_headers_without_the_body(emulator: EmulatorHandle) -> None:
    response = httpx.head(emulator.url + "/images/h.jpg?w=64&h=64")

    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) > 0
    assert response.content == b""


def test_the_picture_cache_stays_within_its_byte_budget() -> None:
    cache = _LruBytes(max_bytes=10)
    cache.put((1, 1, 1), b"12345")
    cache.put((2, 2, 2), b"12345")
    assert cache.get((1, 1, 1)) is not None  # now the most recently used

    cache.put((3, 3, 3), b"12345")

    assert cache.get((2, 2, 2)) is None
    assert cache.get((1, 1, 1)) == b"12345"
    assert cache.get((3, 3, 3)) == b"12345"
