"""The library, handed over to the offline emulator as one JSON file (a manifest).

The emulator (``python -m webapp.emulator``) is a separate process with no
Django, so it cannot read the library's tables. ``make run`` therefore writes
this manifest before it starts the emulator (``library_export_for_emulator``),
and the emulator answers IQS and image_search calls from the images it lists
(webapp/emulator/library.py reads it).

Format (``version`` 1), one object per image under ``items``:

    id, title, description, translations {lang: text}, tags [..], fileName,
    width, height        the size of the picture the emulator serves: the display
                         copy's (≤ 2048 px, EXIF orientation applied)
    takenAt, addedAt     ISO 8601, takenAt may be null
    file                 absolute path of the display copy when it exists, else of
                         the original (the emulator re-encodes it to width × height)
    terms, hashes, descriptor   the search terms and pixel features the library
                         already computed (hashes and descriptor base64 of their
                         little-endian bytes), so the emulator needs no re-analysis

The file is replaced atomically, so an emulator that reloads it on change
never reads half of it.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from webapp.imaging.thumbnails import fit_within
from webapp.library.models import LibraryImage
from webapp.library.services import DISPLAY_SIDE, display_relative_path

MANIFEST_FORMAT = "loupe-library-manifest"
MANIFEST_VERSION = 1
DEFAULT_MANIFEST_NAME = "emulator-library.json"

_FIELDS = (
    "pk",
    "sha256",
    "title",
    "description",
    "translations",
    "tags",
    "file_name",
    "width",
    "height",
    "taken_at",
    "created_at",
    "original_file",
    "terms",
    "hashes",
    "descriptor",
)


def default_manifest_path() -> Path:
    return Path(settings.VAR_DIR) / DEFAULT_MANIFEST_NAME


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def library_manifest_items() -> Iterator[dict[str, Any]]:
    """One manifest entry per library image, oldest first (ids are stable across runs)."""
    root = Path(settings.MEDIA_ROOT).resolve()
    images = LibraryImage.objects.only(*_FIELDS).order_by("pk")
    for image in images.iterator(chunk_size=1000):
        display = root / display_relative_path(image)
        width, height = fit_within((image.width, image.height), DISPLAY_SIDE)
        yield {
            "id": image.pk,
            "title": image.title,
            "description": image.description,
            "translations": image.translations,
            "tags": image.tags,
            "fileName": image.file_name,
            "width": width,
            "height": height,
            "takenAt": _iso(image.taken_at),
            "addedAt": _iso(image.created_at),
            "file": str(display if display.is_file() else root / image.original_file),
            "terms": image.terms,
            "hashes": base64.b64encode(bytes(image.hashes)).decode("ascii"),
            "descriptor": base64.b64encode(bytes(image.descriptor)).decode("ascii"),
        }


def library_manifest_write(*, path: Path) -> int:
    """Write the manifest of the whole library to ``path``, atomically; return how many images.

    Streams item by item, so a large library never sits in memory as one document.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".manifest-", suffix=".part")
    count = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            header = {
                "format": MANIFEST_FORMAT,
                "version": MANIFEST_VERSION,
                "generatedAt": timezone.now().isoformat(),
            }
            out.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "items": [\n')
            for item in library_manifest_items():
                out.write((",\n" if count else "") + json.dumps(item, ensure_ascii=False))
                count += 1
            out.write("\n]}\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count
