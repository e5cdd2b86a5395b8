"""Export a collection or a search as JSON, CSV or a ZIP of thumbnails, streamed.

Every format is a generator of byte chunks fed to a StreamingHttpResponse, and
the rows come from a database iterator, so memory stays flat however many items
there are: nothing holds the whole export, the item list, or the thumbnails.
The only state that grows is the ZIP's central directory (one small entry per
file), which the format itself requires at the end of the archive.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify

EXPORT_FORMAT = "loupe.collection"
EXPORT_VERSION = 1
FORMATS = ("json", "csv", "zip")
_CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "zip": "application/zip",
}
_JSON_BATCH = 200  # items per chunk: fewer, larger writes, still flat memory
_FILE_CHUNK = 64 * 1024
# Spreadsheet programs run a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "title",
    "imageUrl",
    "hostPageUrl",
    "publishedTime",
    "width",
    "height",
    "note",
    "provider",
    "searchId",
    "query",
    "rank",
    "savedAt",
)


@dataclass(frozen=True)
class ExportRow:
    """One image as exported: the IQS fields, the note, and where it came from."""

    title: str
    image_url: str
    host_page_url: str
    published_time: datetime | None
    width: int | None
    height: int | None
    note: str
    provider: str
    search_id: int | None
    query: str
    rank: int | None
    saved_at: datetime | None
    thumbnail_path: str  # under MEDIA_ROOT; "" when there is no thumbnail file


@dataclass(frozen=True)
class ExportSource:
    """What to export. ``rows`` is called once per pass and must stream from the database."""

    kind: str  # "collection" or "search"
    name: str
    description: str
    rows: Callable[[], Iterable[ExportRow]]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def item_json(row: ExportRow) -> dict[str, Any]:
    return {
        "title": row.title,
        "hostPageUrl": row.host_page_url,
        "imageUrl": row.image_url,
        "publishedTime": _iso(row.published_time),
        "width": row.width,
        "height": row.height,
        "note": row.note,
        "provenance": {
            "provider": row.provider,
            "searchId": row.search_id,
            "query": row.query,
            "rank": row.rank,
            "savedAt": _iso(row.saved_at),
        },
    }


def _head(source: ExportSource) -> str:
    head = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exportedAt": timezone.now().isoformat(),
        "source": source.kind,
        "collection": {"name": source.name, "description": source.description},
    }
    # The document is written by hand around the item list, so it can stream.
    return json.dumps(head, ensure_ascii=False)[:-1] + ', "imageItems": ['


def export_json(
    source: ExportSource, *, with_item: Callable[[int, ExportRow], dict[str, Any]] | None = None
) -> Iterator[bytes]:
    """The JSON document, in chunks of a few hundred items."""
    yield _head(source).encode()
    batch: list[str] = []
    for index, row in enumerate(source.rows(), start=1):
        item = item_json(row)
        if with_item is not None:
            item.update(with_item(index, row))
        batch.append(("\n  " if index == 1 else ",\n  ") + json.dumps(item, ensure_ascii=False))
        if len(batch) >= _JSON_BATCH:
            yield "".join(batch).encode()
            batch = []
    batch.append("\n]}\n")
    yield "".join(batch).encode()


class _Pending:
    """A write-only file that hands over what was written since last asked."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes | str) -> int:
        self._chunks.append(data.encode() if isinstance(data, str) else bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


def _safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def export_csv(source: ExportSource) -> Iterator[bytes]:
    """One header row, then one row per image. Cells that would run as formulas are quoted."""
    pending = _Pending()
    writer = csv.writer(pending)
    pending.write("\ufeff")  # so spreadsheet programs read the file as UTF-8
    writer.writerow(CSV_COLUMNS)
    for index, row in enumerate(source.rows(), start=1):
        item = item_json(row)
        provenance = item.pop("provenance")
        values = {**item, **provenance}
        writer.writerow([_safe_cell(values[column]) for column in CSV_COLUMNS])
        if index % _JSON_BATCH == 0:
            yield pending.take()
    yield pending.take()


def thumbnail_name(index: int, row: ExportRow) -> str | None:
    """The file's name inside the ZIP, or None when the image has no thumbnail."""
    if not row.thumbnail_path:
        return None
    return f"thumbnails/{index:04d}{Path(row.thumbnail_path).suffix or '.jpg'}"


def _has_file(row: ExportRow) -> bool:
    return bool(row.thumbnail_path) and (Path(settings.MEDIA_ROOT) / row.thumbnail_path).is_file()


def export_zip(source: ExportSource) -> Iterator[bytes]:
    """manifest.json (the JSON export plus each item's thumbnailFile), then the thumbnails.

    Written to a stream that can't seek, so zipfile adds a data descriptor after
    each file instead of going back to patch sizes. Thumbnails are JPEGs
    already: stored, not compressed again.
    """
    pending = _Pending()
    # The manifest names files before they are written; the same test decides both.
    present: Callable[[ExportRow], bool] = _has_file
    sink = cast(IO[bytes], pending)  # write() and flush() are all zipfile uses here
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        with archive.open("manifest.json", mode="w") as manifest:
            for chunk in export_json(
                source,
                with_item=lambda index, row: {
                    "thumbnailFile": thumbnail_name(index, row) if present(row) else None
                },
            ):
                manifest.write(chunk)
                yield pending.take()
        for index, row in enumerate(source.rows(), start=1):
            name = thumbnail_name(index, row)
            if name is None or not present(row):
                continue
            with (
                (Path(settings.MEDIA_ROOT) / row.thumbnail_path).open("rb") as image,
                archive.open(name, mode="w") as entry,
            ):
                while chunk := image.read(_FILE_CHUNK):
                    entry.write(chunk)
                    yield pending.take()
    yield pending.take()


def export_response(source: ExportSource, export_format: str) -> StreamingHttpResponse:
    """A streamed download in the chosen format (json, csv or zip)."""
    streams: dict[str, Callable[[ExportSource], Iterator[bytes]]] = {
        "json": export_json,
        "csv": export_csv,
        "zip": export_zip,
    }
    response = StreamingHttpResponse(
        streams[export_format](source), content_type=_CONTENT_TYPES[export_format]
    )
    base = slugify(source.name)[:60] or source.kind
    response["Content-Disposition"] = f'attachment; filename="{base}.{export_format}"'
    response["Cache-Control"] = "private, no-store"
    return response
