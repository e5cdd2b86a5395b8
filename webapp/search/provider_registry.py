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
from webapp.search.query_images import provider_reference, query_image_bytes

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


def _library_info() -> ProviderInfo:
    return ProviderInfo(
        key=Provider.LIBRARY,
        label="Local library",
        emulated=False,
        available=True,
        takes_text=True,
        takes_image=True,
        needs_text=False,
        needs_image=False,
    )


def web_providers_emulated() -> bool:
    """True when no web provider has a key: the library is then the real thing to search."""
    return bool(settings.IQS_EMULATED and settings.DASHSCOPE_EMULATED)


def provider_infos() -> list[ProviderInfo]:
    """The providers a person can choose from, in the order the form offers them.

    With no keys at all, the local library comes first: it is the one provider
    answering with real data.
    """
    web = [
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
    return [_library_info(), *web] if web_providers_emulated() else [*web, _library_info()]


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


def _library_events(search: Search) -> Iterator[ProviderEvent]:
    from webapp.library.provider import library_events

    image = query_image_bytes(search.query_image) if search.query_image else None
    yield from library_events(query=search.query, image_bytes=image)


def provider_events(search: Search) -> Iterator[ProviderEvent]:
    """Start the provider call for ``search`` and yield its events.

    A query image given by URL must already be stored (services fetch it first).
    """
    if search.provider == Provider.IQS:
        return _iqs_events(search)
    if search.provider == Provider.IMAGE_SEARCH:
        return _image_search_events(search, provider_reference(search.query_image))
    if search.provider == Provider.LIBRARY:
        return _library_events(search)
    raise ProviderError(
        "ProviderUnavailable",
        f"The provider “{search.provider}” is not available in this installation.",
    )
