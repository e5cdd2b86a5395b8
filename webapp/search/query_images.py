"""Query images: checked, cleaned, stored, and handed to a provider.

An upload is never trusted by name or Content-Type: it is decoded with the
decompression-bomb guard on, re-encoded from its pixels (so EXIF, GPS
included, is gone), downscaled to UPLOAD_MAX_SIDE, and stored under a name
derived from its content.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.urls import reverse

from webapp.imaging.thumbnails import ImageTooLarge, NotAnImage, make_thumbnail, reencode_upload

UPLOAD_DIR = "uploads"
_SIGNING_SALT = "loupe.query-image"
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_CONTENT_TYPES = {extension: content_type for content_type, extension in _EXTENSIONS.items()}


@dataclass(frozen=True)
class StoredQueryImage:
    name: str  # path under MEDIA_ROOT
    width: int
    height: int


def _media(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def query_image_store(data: bytes) -> StoredQueryImage:
    """Check, clean and keep an uploaded image. Raises ValidationError with a sentence."""
    if not data:
        raise ValidationError("The uploaded file is empty.", code="empty_image")
    try:
        clean, content_type, width, height = reencode_upload(
            data, max_bytes=int(settings.UPLOAD_MAX_BYTES), max_side=settings.UPLOAD_MAX_SIDE
        )
        preview = make_thumbnail(clean, max_side=160)
    except (NotAnImage, ImageTooLarge) as exc:
        raise ValidationError(str(exc), code="bad_image") from exc
    digest = hashlib.sha256(clean).hexdigest()
    name = f"{UPLOAD_DIR}/{digest[:2]}/{digest}.{_EXTENSIONS.get(content_type, 'png')}"
    target = _media(name)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(clean)
        _media(preview_name(name)).write_bytes(preview.data)
    return StoredQueryImage(name=name, width=width, height=height)


def preview_name(name: str) -> str:
    """The small JPEG shown in history and admin beside a stored query image."""
    return name.rsplit(".", 1)[0] + ".preview.jpg"


def content_type_of(name: str) -> str:
    return _CONTENT_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")


def data_url(name: str) -> str:
    encoded = base64.b64encode(_media(name).read_bytes()).decode("ascii")
    return f"data:{content_type_of(name)};base64,{encoded}"


def signed_public_url(name: str) -> str:
    """An expiring URL to the stored upload that the provider can fetch without a session."""
    token = signing.TimestampSigner(salt=_SIGNING_SALT).sign(name)
    path = reverse("search:query_image_public", args=[signing.b64_encode(token.encode()).decode()])
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def name_from_signed(token: str) -> str | None:
    """The upload a signed token names, or None when it is forged or expired."""
    try:
        raw = signing.b64_decode(token.encode()).decode()
        name = signing.TimestampSigner(salt=_SIGNING_SALT).unsign(
            raw, max_age=settings.UPLOAD_URL_MAX_AGE_SECONDS
        )
    except (signing.BadSignature, ValueError, UnicodeDecodeError):
        return None
    return name if name.startswith(f"{UPLOAD_DIR}/") and ".." not in name else None


def provider_reference(name: str) -> str:
    """How the image reaches the provider: a signed public URL when the app is
    reachable from outside (PUBLIC_BASE_URL), else inline as a base64 data: URL."""
    return signed_public_url(name) if settings.PUBLIC_BASE_URL else data_url(name)


def query_image_bytes(name: str) -> bytes | None:
    """A stored query image's bytes, or None if the file is gone."""
    path = _media(name)
    return path.read_bytes() if path.is_file() else None


def media_path(name: str) -> Path:
    return _media(name)
