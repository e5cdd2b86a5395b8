"""Alibaba Cloud OpenSearch (AI Search Open Platform) multi-modal embedding. No Django.

Wire format (api-docs 002): ``POST {host}/v3/openapi/workspaces/{workspace}/
multi-modal-embedding/{service_id}`` with ``Authorization: Bearer <key>`` and
``{"input": [{"text": ...} | {"image": "data:image/{format};base64,..."}]}``.
The answer is ``{"request_id", "latency", "usage", "result": {"embeddings":
[{"index", "embedding"}]}}``; an error is ``{"request_id", "latency": 0,
"code", "message"}``.

Limits from the document, honoured here:
- at most 32 inputs a request and a body of at most 8 MB: inputs are packed
  greedily into requests under both limits, and an image too large to fit a
  request alone is re-encoded smaller first;
- 10 QPS per account: a RateLimiter paces request starts (shared by this
  process's clients; other processes are not coordinated, see README);
- ops-m2-encoder and -large take text or an image per input, never both, so
  each input here is one or the other (the gme model would accept both; Loupe
  never needs that).

Error codes (HTTP status, code) are the platform's general status codes
(InvalidParameter, ServiceIdNotExist, Throttling*, InternalServerError). The
document names none for a refused key; such an answer is judged by its HTTP
status (401/403).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from webapp.providers.embeddings import (
    ErrorSpec,
    JsonPoster,
    RateLimiter,
    bad_response,
    checked_vector,
    data_url,
    fit_image,
)
from webapp.providers.errors import ProviderError

SERVICE = "OpenSearch"
PATH = "/v3/openapi/workspaces/{workspace}/multi-modal-embedding/{service_id}"
MODELS: dict[str, int] = {  # service_id -> dimensions (api-docs 002, "Available models")
    "ops-m2-encoder": 768,
    "ops-m2-encoder-large": 1024,
    "ops-gme-qwen2-vl-2b-instruct": 1536,
}
MAX_INPUTS = 32
# "The request body must not exceed 8 MB": read as 8,000,000 bytes, which is within
# the limit whether the service means 10^6 or 2^20 bytes to the MB.
MAX_BODY_BYTES = 8_000_000
QPS = 10
# jpeg and png are the document's examples of {format}; anything else is re-encoded.
IMAGE_FORMATS = ("jpeg", "png")
_BODY_OVERHEAD = len(b'{"input": []}')

ERRORS: dict[str, tuple[str, bool]] = {
    "InvalidParameter": (
        "OpenSearch did not accept the input (an unreadable image or a bad request).",
        False,
    ),
    "ServiceIdNotExist": (
        "OpenSearch does not know this embedding model; check OPENSEARCH_EMBEDDING_MODEL.",
        False,
    ),
    "Throttling": ("OpenSearch is receiving too many requests; try again in a moment.", True),
    "Throttling.RateQuota": (
        "OpenSearch's request rate limit was reached; try again in a moment.",
        True,
    ),
    # The code also means "the free quota is used up"; a few quick tries cost little.
    "Throttling.AllocationQuota": (
        "OpenSearch's quota for this account is used up for now; try again later, or raise "
        "the quota (or enable billing) in the console.",
        True,
    ),
    "InternalServerError": (
        "OpenSearch had a temporary problem; try again in a moment.",
        True,
    ),
}


class OpenSearchEmbeddingClient:
    """One workspace, model and key. Thread-safe; requests share a pooled HTTP client."""

    def __init__(
        self,
        *,
        host: str,
        api_key: str,
        model: str = "ops-m2-encoder",
        workspace: str = "default",
        timeout: float = 30.0,
        max_tries: int = 3,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown OpenSearch embedding model {model!r}; one of {list(MODELS)}")
        self.model = model
        self.name = f"opensearch/{model}"
        self.dimensions = MODELS[model]
        path = PATH.format(workspace=workspace, service_id=model)
        self._poster = JsonPoster(
            url=host.rstrip("/") + path,
            api_key=api_key,
            errors=ErrorSpec(SERVICE, "OPENSEARCH_EMBEDDING_API_KEY", ERRORS),
            timeout=timeout,
            max_tries=max_tries,
            sleep=sleep,
            limiter=limiter if limiter is not None else RateLimiter(QPS),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"OpenSearchEmbeddingClient(model={self.model!r}, poster={self._poster!r})"

    @property
    def url(self) -> str:
        return self._poster.url

    def embed_images(self, images: list[bytes]) -> list[list[float]]:
        prefix = len('{"image": "data:image/jpeg;base64,"}')
        # The largest image that still fits a request on its own, base64 taking 4/3.
        largest = (MAX_BODY_BYTES - _BODY_OVERHEAD - prefix - 16) * 3 // 4
        inputs = [
            {"image": data_url(fit_image(data, largest, service=SERVICE, formats=IMAGE_FORMATS))}
            for data in images
        ]
        return self._embed(inputs)

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        if any(not text.strip() for text in texts):
            raise ValueError("texts to embed must not be blank")
        return self._embed([{"text": text} for text in texts])

    def _embed(self, inputs: list[dict[str, str]]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in pack_requests(inputs):
            payload = self._poster.post({"input": batch})
            vectors.extend(self._parse(payload, len(batch)))
        return vectors

    def _parse(self, payload: dict[str, Any], expected: int) -> list[list[float]]:
        result = payload.get("result")
        embeddings = result.get("embeddings") if isinstance(result, dict) else None
        if not isinstance(embeddings, list):
            raise bad_response(SERVICE, "result.embeddings is missing or not a list")
        by_index: dict[int, list[float]] = {}
        for entry in embeddings:
            index = entry.get("index") if isinstance(entry, dict) else None
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < expected:
                raise bad_response(SERVICE, f"an embedding has no valid index ({index!r})")
            if index in by_index:
                raise bad_response(SERVICE, f"two embeddings for input {index}")
            assert isinstance(entry, dict)
            by_index[index] = checked_vector(entry.get("embedding"), self.dimensions, SERVICE)
        if len(by_index) != expected:
            raise bad_response(SERVICE, f"{len(by_index)} embeddings for {expected} inputs")
        return [by_index[i] for i in range(expected)]


def pack_requests(inputs: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Split inputs, in order, into requests of at most 32 inputs and 8 MB of body.

    Greedy: each request takes inputs until the next would break a limit. The
    size counted is the exact JSON the poster sends (``json.dumps`` defaults).
    """
    batches: list[list[dict[str, str]]] = []
    current: list[dict[str, str]] = []
    size = _BODY_OVERHEAD
    for item in inputs:
        item_size = len(json.dumps(item, ensure_ascii=False).encode("utf-8"))
        if _BODY_OVERHEAD + item_size > MAX_BODY_BYTES:
            raise ProviderError(
                "InvalidInput", "One input is larger than OpenSearch's 8 MB request limit."
            )
        separator = 2 if current else 0  # ", " between list items
        if current and (
            len(current) >= MAX_INPUTS or size + separator + item_size > MAX_BODY_BYTES
        ):
            batches.append(current)
            current, size, separator = [], _BODY_OVERHEAD, 0
        current.append(item)
        size += separator + item_size
    if current:
        batches.append(current)
    return batches
