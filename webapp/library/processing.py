"""Turn one ImportItem into a stored file set and the row values that describe it. No Django.

Runs in worker processes (the command's process pool) or inline (the Celery
task, tests), so everything it needs comes in as arguments or from
``configure``, and everything it returns is plain, picklable data. It writes
only content-addressed files (original and thumbnail), each through a
temporary name and a rename, so two workers that meet the same bytes, or a
run that is repeated, can never leave a half-written file behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from PIL import Image

from webapp.imaging.safe_fetch import FetchError, fetch_url
from webapp.imaging.thumbnails import ImageTooLarge, NotAnImage, make_thumbnail
from webapp.library import text
from webapp.library.features import image_features
from webapp.library.sources import ImportItem

THUMBNAIL_SIDE = 320
_EXIF_IFD = 0x8769
_DATE_TIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_DATE_TIME = 0x0132
_EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tif",
}


@dataclass(frozen=True)
class Limits:
    media_root: str
    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 50_000_000
    fetch_timeout: float = 8.0
    fetch_allowlist: frozenset[tuple[str, int]] = frozenset()


@dataclass(frozen=True)
class Processed:
    """An image ready to be stored as a LibraryImage (field names match the model)."""

    source: str
    sha256: str
    values: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    """Bytes the library already has (known when the run started)."""

    source: str
    sha256: str


@dataclass(frozen=True)
class Failed:
    source: str
    reason: str


Outcome = Processed | Skipped | Failed

_known: frozenset[str] = frozenset()
_limits: Limits | None = None


def configure(limits: Limits, known_hashes: frozenset[str]) -> None:
    """Set this process's limits and the hashes already stored (a pool initializer)."""
    global _known, _limits
    _limits = limits
    _known = known_hashes


def process_item(item: ImportItem) -> Outcome:
    """Never raises for a bad file: every failure comes back as Failed with a sentence."""
    assert _limits is not None, "configure() first"
    try:
        return _process(item, _limits)
    except (NotAnImage, ImageTooLarge, FetchError) as exc:
        return Failed(item.source, exc.message)
    except _TooBig as exc:
        return Failed(item.source, str(exc))
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        return Failed(item.source, f"Loupe could not read the file ({type(exc).__name__}).")
    except Exception as exc:  # one odd file must never stop thousands of others
        return Failed(item.source, f"Unexpected error while reading the image: {exc!r}"[:300])


class _TooBig(Exception):
    pass


def _read(item: ImportItem, limits: Limits) -> bytes:
    too_big = (
        f"The file is larger than {limits.max_bytes // (1024 * 1024)} MB, "
        "the library's limit for one image."
    )
    if item.kind == "url":
        return fetch_url(
            item.location,
            max_bytes=limits.max_bytes,
            timeout=limits.fetch_timeout,
            allowlist=limits.fetch_allowlist,
        ).content
    if item.kind == "zip":
        with zipfile.ZipFile(item.location) as archive, archive.open(item.member) as handle:
            data = handle.read(limits.max_bytes + 1)  # never trust the size the header claims
    else:
        if os.path.getsize(item.location) > limits.max_bytes:
            raise _TooBig(too_big)
        data = Path(item.location).read_bytes()
    if len(data) > limits.max_bytes:
        raise _TooBig(too_big)
    return data


def _process(item: ImportItem, limits: Limits) -> Outcome:
    data = _read(item, limits)
    digest = hashlib.sha256(data).hexdigest()
    if digest in _known:
        return Skipped(item.source, digest)
    thumb = make_thumbnail(data, max_side=THUMBNAIL_SIDE, max_pixels=limits.max_pixels)
    with Image.open(io.BytesIO(thumb.data)) as small:
        features = image_features(small.convert("RGB"))
    extension = _EXTENSIONS.get(thumb.source_format, "img")
    original = f"library/originals/{digest[:2]}/{digest}.{extension}"
    thumbnail = f"library/thumbs/{digest[:2]}/{digest}.jpg"
    write_atomically(Path(limits.media_root) / original, data)
    write_atomically(Path(limits.media_root) / thumbnail, thumb.data)
    title, description, translations = describe(item)
    tags = [folder.strip() for folder in item.folders if folder.strip()]
    taken = exif_taken_at(data)
    return Processed(
        source=item.source,
        sha256=digest,
        values={
            "sha256": digest,
            "source": item.source,
            "file_name": item.file_name[:255],
            "format": thumb.source_format,
            "width": thumb.width,
            "height": thumb.height,
            "bytes": len(data),
            "taken_at": taken,
            "title": title[:300],
            "description": description,
            "translations": translations,
            "tags": tags,
            "original_file": original,
            "thumbnail_file": thumbnail,
            "thumb_width": thumb.thumb_width,
            "thumb_height": thumb.thumb_height,
            "hashes": features.hashes_bytes(),
            "descriptor": features.descriptor_bytes(),
            "terms": search_terms(
                title=title,
                description=description,
                translations=translations,
                tags=tags,
                file_name=item.file_name,
            ),
            "tokenizer_version": text.TOKENIZER_VERSION,
        },
    )


def describe(item: ImportItem) -> tuple[str, str, dict[str, str]]:
    """Title, description and translations: the sidecar's, else made from the names."""
    sidecar = item.sidecar
    folders = " / ".join(text.file_name_words(f) for f in item.folders if f.strip())
    if sidecar is not None and sidecar.title:
        return sidecar.title, sidecar.description, dict(sidecar.translations)
    title = text.file_name_words(item.file_name) or item.file_name or "Untitled image"
    return title, folders, {}


def search_terms(
    *,
    title: str,
    description: str,
    translations: dict[str, str],
    tags: list[str],
    file_name: str,
) -> dict[str, list[str]]:
    """The terms of each field (index.FIELD_WEIGHTS), stored so no index re-segments text."""
    all_text = " ".join([title, description, *translations.values(), *tags])
    return {
        "title": text.words(title),
        "description": text.words(" ".join([description, *translations.values()])),
        "tags": text.words(" ".join(tags)),
        "file": text.words(text.file_name_words(file_name)),
        "chars": text.characters(all_text),
    }


def write_atomically(path: Path, data: bytes) -> None:
    if path.exists() and path.stat().st_size == len(data):
        return  # content-addressed: same name, same bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def exif_taken_at(data: bytes) -> datetime | None:
    """EXIF DateTimeOriginal (or DateTime), read from the header only; None when absent or odd.

    EXIF dates carry no zone unless OffsetTimeOriginal says one; without it
    the camera's clock is taken as UTC, which is at worst a few hours off.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            sub = exif.get_ifd(_EXIF_IFD)
            raw = sub.get(_DATE_TIME_ORIGINAL) or exif.get(_DATE_TIME)
            offset = sub.get(_OFFSET_TIME_ORIGINAL)
    except Exception:  # any parse problem means "no date", never a failed import
        return None
    if not isinstance(raw, str):
        return None
    try:
        naive = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone: timezone = UTC
    if isinstance(offset, str) and len(offset) >= 6 and offset[0] in "+-":
        try:
            sign = 1 if offset[0] == "+" else -1
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        except ValueError:
            zone = UTC
    return naive.replace(tzinfo=zone)
