"""The events every provider yields, whatever API it speaks.

Providers know nothing of Django. A provider's ``search()`` is a generator of
these events, so a slow or streaming provider can show results as they arrive:

    Progress("sent") ... HitsFound([...]) ... TextDelta("...") ... Completed(summary)

A provider raises a ``ProviderError`` (webapp.providers.errors) when the call
fails as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ImageHit:
    """One image a provider found. Fields the provider did not give are None/empty."""

    rank: int
    title: str
    image_url: str
    host_page_url: str = ""
    published_time: datetime | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """A stage the person can see: "sent", "searching", "writing"..."""

    stage: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HitsFound:
    hits: list[ImageHit]


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Completed:
    """The end of a successful call.

    ``raw_response`` is what the provider answered (never any request header,
    so no secret can end up in it). ``provider_ms`` is the wall time spent
    waiting on the provider, so the app's own overhead can be told apart.
    """

    request_id: str = ""
    search_time_ms: int | None = None
    query_sent: str = ""
    provider_ms: float = 0.0
    dropped_items: int = 0
    raw_response: dict[str, Any] = field(default_factory=dict)
    # Usage, for providers that bill by tokens and tool calls (Responses API).
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    tool_calls: int = 0
    # The Responses API (image_search): what the person reads beside the gallery.
    response_id: str = ""  # the provider's id of the answer (resp_...), next to request_id
    answer_text: str = ""  # the model's whole answer: authoritative over the deltas
    no_tool_call: bool = False  # the model answered without searching for images
    malformed_events: int = 0  # stream events whose data was not JSON; skipped
    capped_items: int = 0  # of dropped_items, those past the provider's 100-image cap


ProviderEvent = Progress | HitsFound | TextDelta | Completed
