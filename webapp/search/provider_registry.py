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


@dataclass(frozen=True)
class ProviderInfo:
    key: str
    label: str
    emulated: bool
    available: bool


def iqs_info() -> ProviderInfo:
    label = "IQS (offline emulator)" if settings.IQS_EMULATED else "IQS MultimodalSearch"
    return ProviderInfo(
        key=Provider.IQS, label=label, emulated=settings.IQS_EMULATED, available=True
    )


def provider_infos() -> list[ProviderInfo]:
    """The providers a person can choose from, in the order the form offers them."""
    return [iqs_info()]


def provider_info(key: str) -> ProviderInfo | None:
    return next((info for info in provider_infos() if info.key == key), None)


def provider_label(key: str, *, emulated: bool) -> str:
    """How a past search's provider is shown (it may predate a settings change)."""
    name = Provider(key).label if key in Provider.values else key
    if key == Provider.IQS:
        name = "IQS"
    return f"{name} (offline emulator)" if emulated else name


def iqs_client() -> IqsClient:
    return IqsClient(
        base_url=settings.IQS_EFFECTIVE_BASE_URL,
        api_key=settings.IQS_API_KEY or EMULATOR_API_KEY,
        timeout=settings.IQS_TIMEOUT_SECONDS,
        max_tries=settings.IQS_MAX_TRIES or 3,
    )


def provider_events(search: Search) -> Iterator[ProviderEvent]:
    """Start the provider call for ``search`` and yield its events."""
    if search.provider == Provider.IQS:
        sites = tuple(site for site in search.exclude_sites.split(",") if site)
        yield from iqs_client().search(
            IqsRequest(query=search.query_sent or search.query, exclude_sites=sites)
        )
        return
    raise ProviderError(
        "ProviderUnavailable",
        f"The provider “{search.provider}” is not available in this installation.",
    )
