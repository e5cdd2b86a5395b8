"""Read a JSON export back: check everything first, so an import is all or nothing.

The shape is the one exports.py writes (``imageItems`` in the IQS shape plus
``note`` and ``provenance``). Every field that ends up in a link (imageUrl,
hostPageUrl) must be an http or https address: an imported file is someone
else's input, and a ``javascript:`` URL in an href would run on click.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from webapp.collections.models import DESCRIPTION_MAX_CHARS, NAME_MAX_CHARS, NOTE_MAX_CHARS

IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_MAX_ITEMS = 5000
URL_MAX_CHARS = 4096
TITLE_MAX_CHARS = 500
SIDE_MAX = 100_000
MAX_ERRORS_SHOWN = 5


class ImportRejected(Exception):
    """The file can't be imported; ``messages`` say why, item by item. Nothing was saved."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__(" ".join(messages))


@dataclass(frozen=True)
class ImportedItem:
    image_url: str
    title: str
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


@dataclass(frozen=True)
class ImportedCollection:
    name: str
    description: str
    items: list[ImportedItem]


def parse_export(
    data: bytes, *, max_bytes: int = IMPORT_MAX_BYTES, max_items: int = IMPORT_MAX_ITEMS
) -> ImportedCollection:
    """Parse and check a JSON export. Raises ImportRejected with readable sentences."""
    if not data.strip():
        raise ImportRejected(["The file is empty."])
    if len(data) > max_bytes:
        raise ImportRejected(
            [f"The file is larger than {max_bytes // (1024 * 1024)} MB, the import limit."]
        )
    try:
        document = json.loads(data)
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            ["The file is not text in UTF-8, so it is not a JSON export."]
        ) from exc
    except json.JSONDecodeError as exc:
        raise ImportRejected(
            [f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."]
        ) from exc
    except RecursionError as exc:
        raise ImportRejected(["The file nests too deeply to be a Loupe export."]) from exc
    if not isinstance(document, dict) or not isinstance(document.get("imageItems"), list):
        raise ImportRejected(
            ["The file has no “imageItems” list, so it is not a Loupe or IQS export."]
        )
    raw_items = document["imageItems"]
    if len(raw_items) > max_items:
        raise ImportRejected(
            [f"The file has {len(raw_items)} items; at most {max_items} can be imported at once."]
        )
    errors: list[str] = []
    items: list[ImportedItem] = []
    for number, raw in enumerate(raw_items, start=1):
        try:
            items.append(_item(raw))
        except ValueError as exc:
            errors.append(f"Item {number}: {exc}")
            if len(errors) >= MAX_ERRORS_SHOWN:
                errors.append("(more errors not shown)")
                break
    meta = document.get("collection")
    meta = meta if isinstance(meta, dict) else {}
    name, description = "", ""
    try:
        name = _text(meta, "name", NAME_MAX_CHARS) or "Imported collection"
        description = _text(meta, "description", DESCRIPTION_MAX_CHARS)
    except ValueError as exc:
        errors.insert(0, f"Collection: {exc}")
    if errors:
        raise ImportRejected(errors)
    return ImportedCollection(name=name, description=description, items=items)


def _item(raw: Any) -> ImportedItem:
    if not isinstance(raw, dict):
        raise ValueError("each item must be an object with at least an imageUrl.")
    provenance = raw.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise ValueError("provenance must be an object.")
    return ImportedItem(
        image_url=_url(raw, "imageUrl", required=True),
        title=_text(raw, "title", TITLE_MAX_CHARS),
        host_page_url=_url(raw, "hostPageUrl", required=False),
        published_time=_datetime(raw, "publishedTime"),
        width=_whole(raw, "width", 1, SIDE_MAX),
        height=_whole(raw, "height", 1, SIDE_MAX),
        note=" ".join(_text(raw, "note", NOTE_MAX_CHARS).split()),
        provider=_text(provenance, "provider", 20),
        search_id=_whole(provenance, "searchId", 1, 2**63 - 1),
        query=_text(provenance, "query", 200),
        rank=_whole(provenance, "rank", 1, 2**31 - 1),
        saved_at=_datetime(provenance, "savedAt"),
    )


def _text(raw: dict[str, Any], key: str, max_chars: int) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key} must be text.")
    if len(value) > max_chars:
        raise ValueError(f"{key} is longer than {max_chars} characters.")
    return value.strip()


def _url(raw: dict[str, Any], key: str, *, required: bool) -> str:
    value = _text(raw, key, URL_MAX_CHARS)
    if not value:
        if required:
            raise ValueError(f"{key} is missing.")
        return ""
    return clean_http_url(value, key)


def clean_http_url(value: str, key: str) -> str:
    """The address if it is http or https with a host; else ValueError naming ``key``."""
    value = value.strip()
    if len(value) > URL_MAX_CHARS:
        raise ValueError(f"{key} is longer than {URL_MAX_CHARS} characters.")
    try:
        parts = urlsplit(value)
        scheme, host = parts.scheme.lower(), parts.hostname
    except ValueError:  # e.g. an unbalanced [ in the host
        scheme, host = "", None
    if scheme not in ("http", "https") or not host or any(c.isspace() for c in value):
        raise ValueError(f"{key} must be an http or https address, not “{value[:60]}”.")
    return value


def _whole(raw: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} must be a whole number from {low} to {high}.")
    return value


def _datetime(raw: dict[str, Any], key: str) -> datetime | None:
    value = raw.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be an ISO 8601 date and time, as text.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{key} “{value[:40]}” is not an ISO 8601 date and time.") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
