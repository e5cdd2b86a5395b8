"""Rules for what a person may submit. Shared by the HTML form and the JSON API,
so both refuse the same input with the same sentence."""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError

QUERY_MAX_CHARS = 50  # the IQS limit (api-docs 000: "1 to 50 characters")
EXCLUDE_SITES_MAX = 20
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _has_control_characters(text: str) -> bool:
    # Category "C*" covers control, format (e.g. zero-width, bidi overrides),
    # surrogate, private-use and unassigned code points.
    return any(unicodedata.category(char).startswith("C") for char in text)


def clean_query(raw: str | None) -> str:
    """Trim and check a text query: 1–50 characters, no control characters."""
    query = (raw or "").strip()
    if not query:
        raise ValidationError("Type something to search for.", code="empty")
    if _has_control_characters(query):
        raise ValidationError(
            "The query contains control or invisible characters; please retype it.",
            code="control_characters",
        )
    if len(query) > QUERY_MAX_CHARS:
        raise ValidationError(
            f"Keep the query to {QUERY_MAX_CHARS} characters or fewer (it has {len(query)}).",
            code="too_long",
        )
    return " ".join(query.split())


def clean_exclude_sites(raw: str | None) -> list[str]:
    """Parse "a.com, https://b.com/x" into ["a.com", "b.com"]; refuse junk clearly."""
    sites: list[str] = []
    for part in re.split(r"[,\s]+", raw or ""):
        site = part.strip().lower()
        if not site:
            continue
        site = re.sub(r"^[a-z][a-z0-9+.-]*://", "", site).split("/", 1)[0].rstrip(".")
        if not _HOSTNAME.match(site) or "." not in site:
            raise ValidationError(
                f"“{part.strip()[:60]}” is not a site name; use names like example.com.",
                code="bad_site",
            )
        if site not in sites:
            sites.append(site)
    if len(sites) > EXCLUDE_SITES_MAX:
        raise ValidationError(
            f"Exclude at most {EXCLUDE_SITES_MAX} sites at once.", code="too_many_sites"
        )
    return sites


IMAGE_URL_MAX_CHARS = 2000


def clean_image_url(raw: str | None) -> str:
    """An http(s) address of a query image. Whether it is safe to fetch is decided
    when the worker fetches it (SSRF rules), not here."""
    url = (raw or "").strip()
    if len(url) > IMAGE_URL_MAX_CHARS:
        raise ValidationError("That image address is too long.", code="url_too_long")
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", url, flags=re.IGNORECASE):
        raise ValidationError(
            "Give the image's address as a full http:// or https:// URL.", code="bad_url"
        )
    return url
