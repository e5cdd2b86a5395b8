"""The emulator answering from the local library (--library-manifest), over real HTTP.

Most tests use a manifest written here by hand from scikit-image's sample
pictures, with no stored terms or features, so the emulator makes them (the
fallback path) and no database is needed. The last tests export a real
library with the management command and run a Loupe search against it.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from PIL import Image

from tests.library.conftest import jpeg_bytes, sample_image
from webapp.emulator import EmulatorHandle, start_emulator
from webapp.emulator.__main__ import main as emulator_main
from webapp.emulator.library import EmulatedLibrary, ManifestError
from webapp.library.demo import skimage_data_folder
from webapp.library.emulator_manifest import library_manifest_write
from webapp.library.selectors import library_index_reset
from webapp.providers.events import HitsFound
from webapp.providers.iqs import IqsClient, IqsRequest
from webapp.search.models import Search
from webapp.search.services import search_run

IQS = "/search/multimodal"
RESPONSES = "/compatible-mode/v1/responses"
AUTH = {"Authorization": "Bearer test-key"}

# (id, sample file, title, Chinese translation, tags, taken)
SAMPLES: list[tuple[int, str, str, str, list[str], str | None]] = [
    (11, "rocket.jpg", "Rocket on the launch pad", "火箭矗立在发射台上", ["space"], None),
    (12, "coffee.png", "A cup of coffee", "一杯咖啡", ["food"], "2024-05-01T09:30:00+00:00"),
    (13, "chelsea.png", "Chelsea the cat", "一只橘色的小猫", ["animals"], None),
    (14, "astronaut.png", "Astronaut Eileen Collins", "宇航员", ["people"], None),
    (15, "horse.png", "A horse's silhouette", "马的剪影", ["animals"], None),
    (16, "brick.png", "A brick wall", "砖墙的纹理", ["textures"], None),
]


def _entry(
    image_id: int, file: str, title: str, zh: str, tags: list[str], taken: str | None
) -> dict[str, Any]:
    path = skimage_data_folder() / file
    with Image.open(path) as image:
        width, height = image.size
    return {
        "id": image_id,
        "title": title,
        "description": "",
        "translations": {"zh": zh},
        "tags": tags,
        "fileName": file,
        "width": width,
        "height": height,
        "takenAt": taken,
        "addedAt": "2025-01-02T03:04:05+00:00",
        "file": str(path),
    }


def write_manifest(path: Path, items: list[dict[str, Any]], **header: Any) -> Path:
    document = {"format": "loupe-library-manifest", "version": 1, "items": items, **header}
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def sample_items() -> list[dict[str, Any]]:
    return [_entry(*sample) for sample in SAMPLES]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("library")
    items = sample_items()
    # A portrait photo stored sideways (EXIF orientation 6) and larger than the
    # 2048 px display size: served upright and shrunk, at the size reported.
    sideways = folder / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    sample_image("coffee.png").resize((2400, 1600)).save(sideways, "JPEG", exif=exif)
    items.append(
        {
            "id": 17,
            "title": "Coffee, turned",
            "file": str(sideways),
            "width": 1365,
            "height": 2048,
            "takenAt": None,
        }
    )
    return write_manifest(folder / "emulator-library.json", items)


@pytest.fixture(scope="module")
def library_emulator(manifest: Path) -> Iterator[EmulatorHandle]:
    handle = start_emulator(host="127.0.0.1", port=0, pacing=0, library_manifest=manifest)
    yield handle
    handle.stop()


def iqs(emulator: EmulatorHandle, query: str) -> httpx.Response:
    return httpx.post(emulator.url + IQS, json={"query": query}, headers=AUTH, timeout=10)


def titles(response: httpx.Response) -> list[str]:
    return [item["title"] for item in response.json()["imageItems"]]


def data_url(data: bytes, kind: str = "jpeg") -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


def image_search(
    emulator: EmulatorHandle, image_url: str, *, stream: bool = False
) -> httpx.Response:
    body = {
        "model": "qwen3.7-plus",
        "input": [{"role": "user", "content": [{"type": "input_image", "image_url": image_url}]}],
        "tools": [{"type": "image_search"}],
        "stream": stream,
    }
    return httpx.post(emulator.url + RESPONSES, json=body, headers=AUTH, timeout=30)


def listing(response: httpx.Response) -> list[dict[str, Any]]:
    call = next(o for o in response.json()["output"] if o["type"] == "image_search_call")
    found: list[dict[str, Any]] = json.loads(call["output"])
    return found


def decoded(response: httpx.Response) -> Image.Image:
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


# --- loading the manifest ---------------------------------------------------------------------


def test_it_loads_every_item_of_the_manifest(manifest: Path) -> None:
    library = EmulatedLibrary.from_manifest(manifest)

    assert len(library) == 7
    coffee = library.items[12]
    assert coffee.title == "A cup of coffee"
    assert coffee.translations == {"zh": "一杯咖啡"}
    assert (coffee.width, coffee.height) == (600, 400)
    assert coffee.published == "2024-05-01T17:30:00+08:00"  # taken, in IQS's +08:00
    assert library.items[11].published == "2025-01-02T11:04:05+08:00"  # else the date added


def test_the_emulator_reports_the_library_it_answers_from(
    library_emulator: EmulatorHandle, manifest: Path
) -> None:
    described = httpx.get(library_emulator.url + "/_emulator/library").json()

    assert described == {"library": {"manifest": str(manifest), "images": 7, "error": ""}}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{not json", "is not valid JSON"),
        ('{"format": "something else", "items": []}', "is not a Loupe library manifest"),
        ('{"format": "loupe-library-manifest", "version": 9, "items": []}', "is version 9"),
        ('{"format": "loupe-library-manifest", "version": 1}', "has no list of items"),
    ],
)
def test_an_unusable_manifest_is_refused_with_a_sentence(
    tmp_path: Path, document: str, expected: str
) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(document, encoding="utf-8")

    with pytest.raises(ManifestError) as caught:
        EmulatedLibrary.from_manifest(path)

    assert expected in caught.value.message
    assert str(path) in caught.value.message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"title": "  "}, "item 1 (id 11): title must be a non-empty string"),
        ({"width": 0}, "item 1 (id 11): width must be a whole number from 1 to 65535"),
        ({"height": "427"}, "height must be a whole number"),
        ({"id": True}, "item 1: id must be a whole number of at least 1"),
        ({"file": "/nowhere/rocket.jpg"}, "the image file /nowhere/rocket.jpg does not exist"),
        ({"takenAt": "last spring"}, "takenAt 'last spring' is not an ISO 8601 date"),
        ({"tags": "space"}, "tags must be a list of strings"),
        ({"translations": {"zh": 1}}, "translations must map language codes to strings"),
        ({"hashes": "not base64!"}, "hashes and descriptor must be base64"),
    ],
)
def test_a_bad_item_is_named_with_what_is_wrong(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    item = {**sample_items()[0], **change}
    path = write_manifest(tmp_path / "manifest.json", [item])

    with pytest.raises(ManifestError) as caught:
        EmulatedLibrary.from_manifest(path)

    assert expected in caught.value.message


def test_an_id_listed_twice_is_refused(tmp_path: Path) -> None:
    first = sample_items()[0]
    path = write_manifest(tmp_path / "manifest.json", [first, {**first, "title": "Again"}])

    with pytest.raises(ManifestError, match="item 2: id 11 appears twice"):
        EmulatedLibrary.from_manifest(path)


def test_a_file_that_is_not_an_image_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "notes.jpg"
    fake.write_text("just words")
    item = {**sample_items()[0], "file": str(fake)}
    path = write_manifest(tmp_path / "manifest.json", [item])

    with pytest.raises(ManifestError, match="is not a usable image"):
        EmulatedLibrary.from_manifest(path)


def test_the_command_line_stops_on_a_bad_manifest_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.json"

    with pytest.raises(SystemExit) as stopped:
        emulator_main(["--port", "0", "--library-manifest", str(missing)])

    assert stopped.value.code == 2
    assert f"The library manifest {missing} does not exist." in capsys.readouterr().err


def test_a_manifest_with_no_images_leaves_the_fixtures_in_place(tmp_path: Path) -> None:
    empty = write_manifest(tmp_path / "manifest.json", [])
    handle = start_emulator(port=0, pacing=0, library_manifest=empty)
    try:
        response = iqs(handle, "lion")
    finally:
        handle.stop()

    assert titles(response)[0].startswith("A lion's life of battle")


def test_a_changed_manifest_is_reloaded_and_a_broken_one_keeps_the_last(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "manifest.json", sample_items()[:1])
    handle = start_emulator(port=0, pacing=0, library_manifest=path)
    try:
        assert "A cup of coffee" not in titles(iqs(handle, "coffee"))

        write_manifest(path, sample_items()[:2])
        os.utime(path, ns=(1, 2_000_000_000))  # a new stamp even within one clock tick
        assert titles(iqs(handle, "coffee")) == ["A cup of coffee"]

        path.write_text("{broken", encoding="utf-8")
        assert titles(iqs(handle, "coffee")) == ["A cup of coffee"]
        described = httpx.get(handle.url + "/_emulator/library").json()["library"]
        assert described["images"] == 2
        assert "is not valid JSON" in described["error"]
    finally:
        handle.stop()


# --- IQS from the library ------------------------------------------------------------------------


def test_iqs_answers_the_items_whose_text_matches_in_the_wire_format(
    library_emulator: EmulatorHandle,
) -> None:
    response = iqs(library_emulator, "rocket")

    assert response.status_code == 200
    body = response.json()
    assert body["queryContext"] == {"originalQuery": {"query": "rocket"}}
    assert len(body["requestId"]) == 36
    [item] = body["imageItems"]
    assert list(item) == ["title", "publishedTime", "imageUrl", "hostPageUrl", "height", "width"]
    assert item["title"] == "Rocket on the launch pad"
    assert item["imageUrl"] == f"{library_emulator.url}/library/11.jpg"
    assert item["hostPageUrl"] == f"{library_emulator.url}/library/11"
    assert item["publishedTime"] == "2025-01-02T11:04:05+08:00"
    assert (item["width"], item["height"]) == Image.open(skimage_data_folder() / "rocket.jpg").size


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("火箭", "Rocket on the launch pad"),
        ("猫", "Chelsea the cat"),
        ("咖啡", "A cup of coffee"),
        ("cats", "Chelsea the cat"),  # the library's stemmer: "cats" finds "cat"
        ("horse silhouette", "A horse's silhouette"),
        ("animals", "Chelsea the cat"),  # tags count too
    ],
)
def test_iqs_matches_english_and_chinese_text(
    library_emulator: EmulatorHandle, query: str, expected: str
) -> None:
    assert titles(iqs(library_emulator, query))[0] == expected


def test_a_tag_shared_by_two_items_finds_both(library_emulator: EmulatorHandle) -> None:
    assert sorted(titles(iqs(library_emulator, "animals"))) == [
        "A horse's silhouette",
        "Chelsea the cat",
    ]


def test_a_query_the_library_does_not_match_gets_the_built_in_answer(
    library_emulator: EmulatorHandle,
) -> None:
    response = iqs(library_emulator, "lion")

    assert response.status_code == 200
    titles = [item["title"] for item in response.json()["imageItems"]]
    assert len(titles) == 20
    assert titles[0].startswith("A lion's life of battle")


def test_faults_still_apply_to_library_answers(library_emulator: EmulatorHandle) -> None:
    assert iqs(library_emulator, "emulate:http_503 rocket").status_code == 503
    assert iqs(library_emulator, "emulate:Retrieval.Arrears rocket").json()["code"] == (
        "Retrieval.Arrears"
    )


def test_loupes_iqs_client_reads_the_library_answer(library_emulator: EmulatorHandle) -> None:
    client = IqsClient(base_url=library_emulator.url, api_key="k", sleep=lambda seconds: None)

    events = list(client.search(IqsRequest(query="一杯咖啡")))

    hits = next(event.hits for event in events if isinstance(event, HitsFound))
    assert hits[0].title == "A cup of coffee"
    assert hits[0].published_time is not None
    assert hits[0].published_time.isoformat() == "2024-05-01T17:30:00+08:00"


# --- the pictures and pages ----------------------------------------------------------------------


def test_every_picture_is_served_at_the_size_the_answer_reports(
    library_emulator: EmulatorHandle,
) -> None:
    items = [
        item
        for query in ("rocket", "coffee", "cat", "astronaut", "horse", "brick", "turned")
        for item in iqs(library_emulator, query).json()["imageItems"]
    ]
    assert {item["imageUrl"].rsplit("/", 1)[1] for item in items} >= {
        f"{n}.jpg" for n in range(11, 18)
    }

    for item in items:
        response = httpx.get(item["imageUrl"])
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        picture = decoded(response)
        assert picture.format == "JPEG"
        assert picture.size == (item["width"], item["height"]), item["title"]
        assert not picture.getexif()  # re-encoded: no EXIF (GPS) reaches anyone


def test_a_sideways_original_is_served_upright_and_shrunk(library_emulator: EmulatorHandle) -> None:
    picture = decoded(httpx.get(library_emulator.url + "/library/17.jpg"))

    assert picture.size == (1365, 2048)  # stored 2400 x 1600, orientation 6


def test_the_source_page_describes_the_item(library_emulator: EmulatorHandle) -> None:
    response = httpx.get(library_emulator.url + "/library/13")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Chelsea the cat" in response.text
    assert "一只橘色的小猫" in response.text
    assert 'src="/library/13.jpg"' in response.text


@pytest.mark.parametrize("path", ["/library/99.jpg", "/library/99", "/library/0.jpg"])
def test_an_unknown_item_is_404(library_emulator: EmulatorHandle, path: str) -> None:
    assert httpx.get(library_emulator.url + path).status_code == 404


# --- image_search from the library --------------------------------------------------------------


def test_a_resized_recompressed_copy_finds_its_original_first(
    library_emulator: EmulatorHandle,
) -> None:
    copy = jpeg_bytes(sample_image("coffee.png").resize((240, 160)), quality=40)

    response = image_search(library_emulator, data_url(copy))

    assert response.status_code == 200
    found = listing(response)
    assert found[0] == {
        "index": 1,
        "title": "A cup of coffee",
        "url": f"{library_emulator.url}/library/12.jpg",
    }
    assert len(found) == 7  # fewer items than IMAGE_RESULTS: all of them, most alike first
    answer = response.json()["output"][-1]["content"][0]["text"]
    assert "I searched your library" in answer


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("chelsea.png", "Chelsea the cat"),
        ("astronaut.png", "Astronaut Eileen Collins"),
        ("brick.png", "A brick wall"),
    ],
)
def test_a_mirrored_copy_finds_its_original_first(
    library_emulator: EmulatorHandle, sample: str, expected: str
) -> None:
    mirrored = sample_image(sample).transpose(Image.Transpose.FLIP_LEFT_RIGHT)

    found = listing(image_search(library_emulator, data_url(jpeg_bytes(mirrored), "jpeg")))

    assert found[0]["title"] == expected


def test_the_order_follows_similarity(library_emulator: EmulatorHandle) -> None:
    """A copy first; a look-alike of it (the turned coffee) before unrelated pictures."""
    copy = jpeg_bytes(sample_image("coffee.png"), quality=70)

    found = [image["title"] for image in listing(image_search(library_emulator, data_url(copy)))]

    assert found[0] == "A cup of coffee"
    assert found.index("Coffee, turned") < found.index("A brick wall")


def test_the_answer_streams_as_without_a_library(library_emulator: EmulatorHandle) -> None:
    copy = jpeg_bytes(sample_image("rocket.jpg").resize((320, 213)), quality=50)

    response = image_search(library_emulator, data_url(copy), stream=True)

    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    kinds = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    done = [
        json.loads(line[6:])
        for line in response.text.splitlines()
        if line.startswith("data: ")
        and '"image_search_call"' in line
        and "output_item.done" in line
    ]
    assert json.loads(done[0]["item"]["output"])[0]["title"] == "Rocket on the launch pad"


def test_one_of_its_own_pictures_can_be_the_query(library_emulator: EmulatorHandle) -> None:
    found = listing(image_search(library_emulator, f"{library_emulator.url}/library/15.jpg"))

    assert found[0]["title"] == "A horse's silhouette"


def test_it_downloads_no_other_url(library_emulator: EmulatorHandle) -> None:
    for url in ("https://example.com/coffee.jpg", "http://127.0.0.1:1/library/12.jpg"):
        response = image_search(library_emulator, url)

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "InvalidParameter"
        assert "downloads nothing: send the image inline as a data: URL" in error["message"]


def test_an_image_that_does_not_decode_is_a_documented_400(
    library_emulator: EmulatorHandle,
) -> None:
    response = image_search(library_emulator, data_url(b"\x89PNG\r\n\x1a\n fake", "png"))

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "The image format is illegal and cannot be opened."
    )


def test_size_faults_still_answer_with_generated_images(library_emulator: EmulatorHandle) -> None:
    library_emulator.set_fault("many_images", 1, api="responses")

    found = listing(
        image_search(library_emulator, data_url(jpeg_bytes(sample_image("coffee.png"))))
    )

    assert len(found) == 150
    assert "/images/" in found[0]["url"]


# --- without a manifest nothing changes ---------------------------------------------------------


def test_without_a_manifest_lion_is_still_the_documents_answer(emulator: EmulatorHandle) -> None:
    response = iqs(emulator, "lion")

    assert len(titles(response)) == 20
    assert titles(response)[0].startswith("A lion's life of battle")
    assert httpx.get(emulator.url + "/_emulator/library").json() == {"library": None}
    assert httpx.get(emulator.url + "/library/11.jpg").status_code == 404


def test_without_a_manifest_image_search_answers_generated_images(
    emulator: EmulatorHandle,
) -> None:
    emulator.set_pacing(0)
    copy = jpeg_bytes(sample_image("coffee.png").resize((240, 160)), quality=40)

    found = listing(image_search(emulator, data_url(copy)))

    assert 10 <= len(found) <= 20
    assert all("/images/" in image["url"] for image in found)
    # ... and it still takes any http(s) URL, since it fetches nothing anyway.
    assert image_search(emulator, "https://example.com/coffee.jpg").status_code == 200


# --- a real library, exported by the command ----------------------------------------------------


@pytest.fixture
def exported(db: None, tmp_path: Path) -> Iterator[Path]:
    library_index_reset()
    call_command("library_demo", verbosity=0)
    path = tmp_path / "var" / "emulator-library.json"
    out = io.StringIO()
    call_command("library_export_for_emulator", output=path, stdout=out)
    assert f"image(s) written to {path}" in out.getvalue()
    yield path
    library_index_reset()


def test_the_exported_demo_library_answers_english_chinese_and_images(exported: Path) -> None:
    handle = start_emulator(port=0, pacing=0, library_manifest=exported)
    try:
        for query in ("rocket", "火箭"):
            assert "rocket" in titles(iqs(handle, query))[0].lower(), query
        assert "cat" in titles(iqs(handle, "猫"))[0].lower()
        copy = jpeg_bytes(sample_image("coffee.png").resize((300, 200)), quality=40)
        first = listing(image_search(handle, data_url(copy)))[0]
        assert "coffee" in first["title"].lower()
        item = iqs(handle, "coffee").json()["imageItems"][0]
        picture = decoded(httpx.get(item["imageUrl"]))
        assert picture.size == (item["width"], item["height"]) == (600, 400)
    finally:
        handle.stop()


def test_the_export_lists_stored_terms_features_and_the_display_copy(
    exported: Path, settings: Any
) -> None:
    from webapp.library.models import LibraryImage
    from webapp.library.services import library_display_file

    rocket = LibraryImage.objects.get(file_name="rocket.jpg")
    display = library_display_file(image=rocket)
    library_manifest_write(path=exported)  # again, now that the display copy exists

    document = json.loads(exported.read_text(encoding="utf-8"))
    assert document["format"] == "loupe-library-manifest"
    assert document["version"] == 1
    assert len(document["items"]) == LibraryImage.objects.count()
    entry = next(item for item in document["items"] if item["id"] == rocket.pk)
    assert entry["file"] == str(display.resolve())
    assert entry["terms"] == rocket.terms
    assert base64.b64decode(entry["hashes"]) == bytes(rocket.hashes)
    other = next(item for item in document["items"] if item["id"] != rocket.pk)
    assert other["file"].startswith(str(Path(settings.MEDIA_ROOT).resolve() / "library/originals"))


def test_the_export_refuses_a_folder_as_its_output(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="is a folder; give the path of the file to write"):
        call_command("library_export_for_emulator", output=tmp_path)


def test_a_loupe_iqs_search_shows_library_pictures_from_the_emulator(
    exported: Path, owner_client: Client, queued_tasks: list[int], settings: Any
) -> None:
    handle = start_emulator(port=0, pacing=0, library_manifest=exported)
    settings.IQS_EFFECTIVE_BASE_URL = handle.url
    settings.IQS_EMULATED = True
    settings.FETCH_PRIVATE_ALLOWLIST = frozenset({("127.0.0.1", handle.port)})
    try:
        owner_client.post("/searches/", {"query": "rocket", "provider": "iqs"})
        search = Search.objects.get()
        search_run(search_id=search.pk)
    finally:
        handle.stop()

    search.refresh_from_db()
    assert search.status == "done", search.error_message
    first = search.results.select_related("thumbnail").order_by("rank").first()
    assert first is not None
    assert "rocket" in first.title.lower()
    assert first.image_url.startswith(f"{handle.url}/library/")
    assert first.thumbnail is not None and first.thumbnail.state == "ready"
    assert (first.thumbnail.width, first.thumbnail.height) == (first.width, first.height)
    html = owner_client.get(f"/searches/{search.pk}/").content.decode()
    assert "IQS (offline emulator)" in html
