"""Which providers exist, how they are labelled, and how to build their clients.

This is the only place that turns settings into provider clients, so the
"offline emulator" label and the real/emulated choice can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from webapp.providers.errors import ProviderError
from webapp.providers.events import ProviderEvent
from webapp.providers.iqs import IqsClient, IqsRequest
from webapp.search.models import Provider, Search

EMULATOR_API_KEY = "emulator"  # the emulator accepts any bearer token; this is not a secret

SHORT_NAMES = {
    Provider.IQS: "IQS",
    Provider.IMAGE_SEARCH: "Qwen image search",
    Provider.LIBRARY: "Local library",
}


@dataclass(frozen=True)
class ProviderInfo:
    key: str
    label: str
    emulated: bool
    available: bool
    takes_text: bool
    takes_image: bool
    needs_text: bool
    needs_image: bool


def _label(key: str, emulated: bool) -> str:
    name = SHORT_NAMES.get(Provider(key), key) if key in Provider.values else key
    return f"{name} (offline emulator)" if emulated else name


def provider_infos() -> list[ProviderInfo]:
    """The providers a person can choose from, in the order the form offers them."""
    return [
        ProviderInfo(
            key=Provider.IQS,
            label=_label(Provider.IQS, settings.IQS_EMULATED),
            emulated=settings.IQS_EMULATED,
            available=True,
            takes_text=True,
            takes_image=False,
            needs_text=True,
            needs_image=False,
        ),
        ProviderInfo(
            key=Provider.IMAGE_SEARCH,
            label=_label(Provider.IMAGE_SEARCH, settings.DASHSCOPE_EMULATED),
            emulated=settings.DASHSCOPE_EMULATED,
            available=True,
            takes_text=True,
            takes_image=True,
            needs_text=False,
            needs_image=True,
        ),
    ]


def provider_info(key: str) -> ProviderInfo | None:
    return next((info for info in provider_infos() if info.key == key), None)


def provider_label(key: str, *, emulated: bool) -> str:
    """How a past search's provider is shown (it may predate a settings change)."""
    return _label(key, emulated)


def iqs_client() -> IqsClient:
    return IqsClient(
        base_url=settings.IQS_EFFECTIVE_BASE_URL,
        api_key=settings.IQS_API_KEY or EMULATOR_API_KEY,
        timeout=settings.IQS_TIMEOUT_SECONDS,
        max_tries=settings.IQS_MAX_TRIES,
    )


def _iqs_events(search: Search) -> Iterator[ProviderEvent]:
    sites = tuple(site for site in search.exclude_sites.split(",") if site)
    yield from iqs_client().search(
        IqsRequest(query=search.query_sent or search.query, exclude_sites=sites)
    )


def _image_search_events(search: Search, image_reference: str) -> Iterator[ProviderEvent]:
    from webapp.providers.responses import ImageSearchRequest, ResponsesClient

    client = ResponsesClient(
        base_url=settings.DASHSCOPE_EFFECTIVE_BASE_URL,
        api_key=settings.DASHSCOPE_API_KEY or EMULATOR_API_KEY,
        model=settings.DASHSCOPE_MODEL,
        timeout=settings.DASHSCOPE_TIMEOUT_SECONDS,
    )
    yield from client.search(ImageSearchRequest(image_url=image_reference, text=search.query))


def provider_events(search: Search, *, image_reference: str = "") -> Iterator[ProviderEvent]:
    """Start the provider call for ``search`` and yield its events.

    ``image_reference`` is how the query image reaches the provider: a data:
    URL or a signed public URL (see query_images.py).
    """
    if search.provider == Provider.IQS:
        return _iqs_events(search)
    if search.provider == Provider.IMAGE_SEARCH:
        return _image_search_events(search, image_reference)
    raise ProviderError(
        "ProviderUnavailable",
        f"The provider “{search.provider}” is not available in this installation.",
    )
