"""The local library, as the emulator serves it (``--library-manifest PATH``). No Django.

With no keys, ``make run`` writes the library's manifest
(webapp/library/emulator_manifest.py) and starts the emulator with it. The
emulator then answers from the person's own images instead of from fixtures:

* IQS (iqs.py): the items whose title, description (any language), tags or
  file name match the query, best first;
* image_search (responses.py): the items most like the query image;
* ``GET /library/<id>.jpg``: the picture itself, exactly the width × height
  the answers report (the display copy, or the original re-encoded to that
  size, without its EXIF), and ``GET /library/<id>``: a small page about it,
  the results' "source page".

Matching reuses the library's own Django-free pieces: its tokenizer (text.py,
jieba for Chinese), its in-memory index (index.py, BM25F and the pHash and
descriptor scan) and its image features (features.py), fed from the
manifest. So the emulator ranks as the library does, without a database.

Without a manifest (tests, ``make emulate``) nothing here is used, and the
emulator answers "lion" and "狮子" from the documents' fixtures as before. A
manifest that lists no images counts as no library. The file is checked for
changes before every answer and reloaded, so re-running the export command
updates a running emulator; a reload that fails keeps the previous library.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from webapp.emulator.core import Request, Response, Route, json_response, route
from webapp.imaging.thumbnails import ImageTooLarge, NotAnImage, make_thumbnail
from webapp.library import text
from webapp.library.features import (
    DESCRIPTOR_DIMS,
    HASHES_PER_IMAGE,
    descriptor_from_bytes,
    hashes_from_bytes,
    image_features,
    query_features,
)
from webapp.library.index import FIELD_WEIGHTS, IndexedImage, LibraryIndex

MANIFEST_FORMAT = "loupe-library-manifest"  # as webapp.library.emulator_manifest writes it
MANIFEST_VERSION = 1
TEXT_RESULTS = 20  # as many as IQS gives for one query
IMAGE_RESULTS = 12  # within the 10 to 20 the emulated image_search returns
QUERY_THUMBNAIL_SIDE = 320  # features are made from a 320 px thumbnail, as at import
MAX_SIDE = 65_535
PICTURE_QUALITY = 88  # as the library's own display copy
PICTURE_CACHE = 64  # re-encoded pictures kept; a gallery fetches each once, the lightbox again
_BEIJING = timezone(timedelta(hours=8))  # IQS gives every publishedTime in +08:00

# The library's ranking rules (webapp.library.selectors, which needs Django and
# so cannot be imported here). Keep the two in step.
TEXT_CUTOFF = 0.3
NEAR_DUPLICATE_BITS = 10
BORDERLINE_BITS = 16
BORDERLINE_MIN_SIMILARITY = 0.82


class ManifestError(ValueError):
    """The manifest cannot be used; ``message`` says why, naming the file and the item."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class QueryImageUnreadable(ValueError):
    """The query image did not decode; ``message`` is the reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LibraryItem:
    id: int
    title: str
    description: str
    translations: dict[str, str]
    tags: tuple[str, ...]
    file_name: str
    width: int  # of the picture served at /library/<id>.jpg
    height: int
    published: str  # ISO 8601 in +08:00: date taken, else date added, else the file's date
    file: Path


@dataclass(frozen=True)
class Match:
    item: LibraryItem
    score: float  # 0–1
    near_duplicate: bool = False


# --- loading ---------------------------------------------------------------------------------


def _published(raw: dict[str, Any], file: Path, where: str) -> str:
    for key in ("takenAt", "addedAt"):
        value = raw.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise ManifestError(f"{where}: {key} must be an ISO 8601 date or null.")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ManifestError(f"{where}: {key} {value!r} is not an ISO 8601 date.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(_BEIJING).isoformat(timespec="seconds")
    stamp = datetime.fromtimestamp(file.stat().st_mtime, tz=_BEIJING)
    return stamp.isoformat(timespec="seconds")


def _size(raw: dict[str, Any], key: str, where: str) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
        raise ManifestError(f"{where}: {key} must be a whole number from 1 to {MAX_SIDE}.")
    return value


def _strings(raw: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(f"{where}: {key} must be a list of strings.")
    return tuple(value)


def _item(raw: object, number: int, seen: set[int]) -> LibraryItem:
    where = f"item {number}"
    if not isinstance(raw, dict):
        raise ManifestError(f"{where} is not a JSON object.")
    image_id = raw.get("id")
    if isinstance(image_id, bool) or not isinstance(image_id, int) or image_id < 1:
        raise ManifestError(f"{where}: id must be a whole number of at least 1.")
    if image_id in seen:
        raise ManifestError(f"{where}: id {image_id} appears twice.")
    seen.add(image_id)
    where = f"item {number} (id {image_id})"
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ManifestError(f"{where}: title must be a non-empty string.")
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise ManifestError(f"{where}: description must be a string.")
    translations = raw.get("translations") or {}
    if not isinstance(translations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in translations.items()
    ):
        raise ManifestError(f"{where}: translations must map language codes to strings.")
    file_name = raw.get("fileName") or ""
    if not isinstance(file_name, str):
        raise ManifestError(f"{where}: fileName must be a string.")
    file = raw.get("file")
    if not isinstance(file, str) or not file:
        raise ManifestError(f"{where}: file must be the path of the image to serve.")
    path = Path(file)
    if not path.is_file():
        raise ManifestError(f"{where}: the image file {file} does not exist.")
    return LibraryItem(
        id=image_id,
        title=title.strip(),
        description=description,
        translations=dict(translations),
        tags=_strings(raw, "tags", where),
        file_name=file_name,
        width=_size(raw, "width", where),
        height=_size(raw, "height", where),
        published=_published(raw, path, where),
        file=path,
    )


def _terms(raw: dict[str, Any], item: LibraryItem) -> dict[str, list[str]]:
    """The library's stored terms, or the same terms made here when the manifest has none."""
    terms = raw.get("terms")
    if isinstance(terms, dict) and terms:
        return {
            field: [t for t in values if isinstance(t, str)]
            for field, values in terms.items()
            if field in FIELD_WEIGHTS and isinstance(values, list)
        }
    # processing pulls in the import's fetcher; only a hand-written manifest needs it.
    from webapp.library.processing import search_terms

    return search_terms(
        title=item.title,
        description=item.description,
        translations=item.translations,
        tags=list(item.tags),
        file_name=item.file_name,
    )


def _features(raw: dict[str, Any], item: LibraryItem, where: str) -> tuple[Any, Any]:
    """(window hashes, descriptor): the library's, or computed from the file like an import's."""
    try:
        hashes = hashes_from_bytes(base64.b64decode(raw.get("hashes") or "", validate=True))
        descriptor = descriptor_from_bytes(
            base64.b64decode(raw.get("descriptor") or "", validate=True)
        )
    except (binascii.Error, ValueError):
        raise ManifestError(f"{where}: hashes and descriptor must be base64.") from None
    if len(hashes) == HASHES_PER_IMAGE and len(descriptor) == DESCRIPTOR_DIMS:
        return hashes, descriptor
    try:
        thumb = make_thumbnail(item.file.read_bytes(), max_side=QUERY_THUMBNAIL_SIDE)
    except (NotAnImage, ImageTooLarge) as exc:
        raise ManifestError(f"{where}: {item.file} is not a usable image: {exc.message}") from None
    with Image.open(io.BytesIO(thumb.data)) as small:
        features = image_features(small.convert("RGB"))
    return features.hashes, features.descriptor


class EmulatedLibrary:
    """The images of one manifest, indexed for text and image queries. Read-only once built."""

    def __init__(self, items: list[LibraryItem], index: LibraryIndex) -> None:
        self.items = {item.id: item for item in items}
        self._index = index

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def from_manifest(cls, path: Path) -> EmulatedLibrary:
        """Load and index ``path``; raises ManifestError with a sentence when it is unusable."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ManifestError(f"The library manifest {path} does not exist.") from None
        except OSError as exc:
            raise ManifestError(f"The library manifest {path} cannot be read: {exc}.") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"The library manifest {path} is not valid JSON: {exc}.") from None
        if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
            raise ManifestError(
                f"{path} is not a Loupe library manifest (write one with "
                "`python manage.py library_export_for_emulator`)."
            )
        if document.get("version") != MANIFEST_VERSION:
            raise ManifestError(
                f"The library manifest {path} is version {document.get('version')!r}; "
                f"this emulator reads version {MANIFEST_VERSION}. Export it again."
            )
        raw_items = document.get("items")
        if not isinstance(raw_items, list):
            raise ManifestError(f"The library manifest {path} has no list of items.")
        items: list[LibraryItem] = []
        indexed: list[IndexedImage] = []
        seen: set[int] = set()
        for number, raw in enumerate(raw_items, start=1):
            try:
                item = _item(raw, number, seen)
                assert isinstance(raw, dict)  # _item checked it
                hashes, descriptor = _features(raw, item, f"item {number} (id {item.id})")
            except ManifestError as exc:
                raise ManifestError(f"The library manifest {path}, {exc.message}") from None
            items.append(item)
            indexed.append(
                IndexedImage(
                    image_id=item.id,
                    width=item.width,
                    height=item.height,
                    taken_ts=None,
                    terms=_terms(raw, item),
                    hashes=hashes,
                    descriptor=descriptor,
                )
            )
        index = LibraryIndex()
        index.add(indexed)
        return cls(items, index)

    # --- searching --------------------------------------------------------------------------

    def _item_at(self, slot: int) -> LibraryItem:
        return self.items[int(self._index.ids.view()[slot])]

    def search_text(self, query: str, limit: int = TEXT_RESULTS) -> list[Match]:
        """Items matching ``query`` (English or Chinese), best first; none when nothing matches."""
        terms = text.words(query) + text.characters(query)
        slots, scores, best_possible = self._index.text_scores(terms)
        if not len(slots) or best_possible <= 0:
            return []
        keep = scores >= TEXT_CUTOFF * float(scores.max())  # no tail of one-common-word hits
        slots, scores = slots[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")[:limit]
        return [
            Match(self._item_at(int(slots[i])), round(float(scores[i]) / best_possible, 4))
            for i in order
        ]

    def search_image(self, image_bytes: bytes, limit: int = IMAGE_RESULTS) -> list[Match]:
        """The items most like the image: copies and near-copies (also mirrored) first.

        Raises QueryImageUnreadable when the bytes are not an image.
        """
        try:
            thumb = make_thumbnail(image_bytes, max_side=QUERY_THUMBNAIL_SIDE)
        except (NotAnImage, ImageTooLarge) as exc:
            raise QueryImageUnreadable(exc.message) from None
        with Image.open(io.BytesIO(thumb.data)) as small:
            features = query_features(small.convert("RGB"))
        distances, similarity = self._index.scan(features.hashes, features.descriptors)
        near = (distances <= NEAR_DUPLICATE_BITS) | (
            (distances <= BORDERLINE_BITS) & (similarity >= BORDERLINE_MIN_SIMILARITY)
        )
        hash_similarity = np.clip(1.0 - distances.astype(np.float32) / 32.0, 0.0, 1.0)
        scores = 0.55 * hash_similarity + 0.45 * np.clip(similarity, 0.0, 1.0)
        ranking = np.where(self._index.alive.view(), scores + near, -1.0)
        order = np.argsort(-ranking, kind="stable")[:limit]
        return [
            Match(self._item_at(int(slot)), round(float(scores[slot]), 4), bool(near[slot]))
            for slot in order
        ]

    def picture(self, item: LibraryItem) -> bytes:
        """The JPEG served for ``item``: exactly item.width × item.height, with no EXIF."""
        stat = item.file.stat()
        return _picture(str(item.file), stat.st_mtime_ns, item.width, item.height)


@lru_cache(maxsize=PICTURE_CACHE)
def _picture(file: str, mtime_ns: int, width: int, height: int) -> bytes:
    data = Path(file).read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        # The library's display copy already is such a JPEG: send it as it is.
        if image.format == "JPEG" and image.size == (width, height) and not image.getexif():
            return data
    picture = make_thumbnail(data, max_side=max(width, height), quality=PICTURE_QUALITY)
    return picture.data


class LibrarySource:
    """A manifest path and the library loaded from it, reloaded when the file changes.

    Every handler thread calls ``current()``; the swap to a new library is one
    assignment, so a reader sees the old library or the new one, never half.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._library = EmulatedLibrary.from_manifest(path)  # a bad file fails at start
        self.error = ""

    def _file_stamp(self) -> tuple[int, int]:
        try:
            stat = os.stat(self.path)
        except OSError:
            return (0, 0)
        return (stat.st_mtime_ns, stat.st_size)

    def current(self) -> EmulatedLibrary | None:
        """The library to answer from, or None when it lists no images."""
        stamp = self._file_stamp()
        if stamp != self._stamp and stamp != (0, 0):
            with self._lock:
                if stamp != self._stamp:
                    self._reload(stamp)
        return self._library if len(self._library) else None

    def _reload(self, stamp: tuple[int, int]) -> None:
        self._stamp = stamp  # tried once per change, not on every request after a failure
        try:
            self._library = EmulatedLibrary.from_manifest(self.path)
            self.error = ""
        except ManifestError as exc:
            self.error = exc.message
            print(f"Keeping the previous library: {exc.message}", file=sys.stderr, flush=True)

    def describe(self) -> dict[str, object]:
        return {"manifest": str(self.path), "images": len(self._library), "error": self.error}


def current_library(request: Request) -> EmulatedLibrary | None:
    """The library this emulator answers from, or None: then it answers from fixtures."""
    source = request.state.library
    return source.current() if source is not None else None


# --- routes ------------------------------------------------------------------------------------


def picture_path(item: LibraryItem) -> str:
    return f"/library/{item.id}.jpg"


def page_path(item: LibraryItem) -> str:
    return f"/library/{item.id}"


def _not_found(what: str) -> Response:
    return Response(status=404, body=f"<h1>{escape(what)}</h1>".encode(), content_type="text/html")


def _find(request: Request) -> LibraryItem | None:
    library = current_library(request)
    return library.items.get(int(request.match["id"])) if library is not None else None


def handle_picture(request: Request) -> Response:
    item = _find(request)
    if item is None:
        return _not_found("No such image in the library")
    library = current_library(request)
    assert library is not None
    try:
        body = library.picture(item)
    except (OSError, NotAnImage, ImageTooLarge):  # the file changed or went since the export
        return _not_found("The library's image file is gone or damaged")
    return Response(body=body, content_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>
<p><img src="{picture}" alt="{title}" width="{width}" height="{height}"
  style="max-width:100%;height:auto"></p>
<p>{description}</p>{translations}
<p>Tags: {tags}. {width} × {height}, {published}.</p>
<p><small>Served by the Loupe emulator from the local library;
no real site was contacted.</small></p>
</body></html>
"""


def handle_page(request: Request) -> Response:
    item = _find(request)
    if item is None:
        return _not_found("No such image in the library")
    translations = "".join(
        f'<p lang="{escape(lang)}">{escape(value)}</p>' for lang, value in item.translations.items()
    )
    body = _PAGE.format(
        title=escape(item.title),
        picture=picture_path(item),
        width=item.width,
        height=item.height,
        description=escape(item.description),
        translations=translations,
        tags=escape(", ".join(item.tags) or "none"),
        published=escape(item.published[:10]),
    )
    return Response(body=body.encode("utf-8"), content_type="text/html; charset=utf-8")


def handle_describe(request: Request) -> Response:
    source = request.state.library
    return json_response(200, {"library": source.describe() if source is not None else None})


ROUTES: list[Route] = [
    route("GET", r"/library/(?P<id>[1-9][0-9]{0,17})\.jpg", handle_picture),
    route("GET", r"/library/(?P<id>[1-9][0-9]{0,17})", handle_page),
    route("GET", r"/_emulator/library", handle_describe),
]
FAULTS: frozenset[str] = frozenset()
