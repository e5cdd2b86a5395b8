"""DashScope (Model Studio) multimodal-embedding-v1. No Django.

Wire format (api-docs 003, "HTTP"): ``POST {base}/api/v1/services/embeddings/
multimodal-embedding/multimodal-embedding`` with ``Authorization: Bearer <key>``
and ``{"model": "multimodal-embedding-v1", "input": {"contents": [{"text": ...}
| {"image": "data:image/{format};base64,..."}]}}`` (the SDK's ``input`` is the
HTTP ``input.contents``). The answer is ``{"output": {"embeddings": [{"index",
"embedding", "type"}]}, "usage", "request_id"}``; an error is ``{"code",
"message", "request_id"}``.

Limits from the document, honoured here:
- one input a call ("Only one combination is allowed per call"), so a list of
  N images is N calls, one after another;
- images of at most 3 MB, in JPG, PNG or BMP: a larger image, or another
  format, is re-encoded as a smaller JPEG first;
- text of at most 512 tokens: texts are cut to 512 characters, which never
  holds more than 512 tokens for Chinese or English.

The model is served in the China (Beijing) region only, with a key of that
region. Error codes are DashScope's general status codes.
"""

from __future__ import annotations

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

SERVICE = "DashScope"
PATH = "/api/v1/services/embeddings/multimodal-embedding/multimodal-embedding"
MODELS: dict[str, int] = {"multimodal-embedding-v1": 1024}  # api-docs 003, "Overview"
# "Image size: ≤ 3 MB": 3,000,000 bytes keeps within it under either meaning of MB.
MAX_IMAGE_BYTES = 3_000_000
MAX_TEXT_CHARS = 512
IMAGE_FORMATS = ("jpeg", "png", "bmp")

ERRORS: dict[str, tuple[str, bool]] = {
    "InvalidApiKey": (
        "DashScope refused the API key; check DASHSCOPE_EMBEDDING_API_KEY (the model needs "
        "a key of the China (Beijing) region).",
        False,
    ),
    "AccessDenied": (
        "DashScope denied access to the embedding model; check that it is enabled for "
        "this account.",
        False,
    ),
    "AccessDenied.Unpurchased": (
        "The DashScope account has not activated the embedding model; activate it in "
        "the Model Studio console.",
        False,
    ),
    "Arrearage": (
        "The DashScope account has an overdue balance; top it up in the Alibaba Cloud console.",
        False,
    ),
    "InvalidParameter": (
        "DashScope did not accept the input (an unreadable image or a bad request).",
        False,
    ),
    "DataInspectionFailed": (
        "DashScope's content check refused this image or text.",
        False,
    ),
    "BadRequest.TooLarge": ("The input was larger than DashScope accepts.", False),
    "Throttling": ("DashScope is receiving too many requests; try again in a moment.", True),
    "Throttling.RateQuota": (
        "DashScope's request rate limit was reached; try again in a moment.",
        True,
    ),
    "Throttling.AllocationQuota": (
        "DashScope's quota for this account is used up for now; try again later.",
        True,
    ),
    "RequestTimeOut": ("DashScope timed out; try again in a moment.", True),
    "InternalError": ("DashScope had a temporary problem; try again in a moment.", True),
}


class DashScopeEmbeddingClient:
    """One model and key. Thread-safe; calls share a pooled HTTP client."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str = "multimodal-embedding-v1",
        timeout: float = 30.0,
        max_tries: int = 3,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown DashScope embedding model {model!r}; one of {list(MODELS)}")
        self.model = model
        self.name = f"dashscope/{model}"
        self.dimensions = MODELS[model]
        self._poster = JsonPoster(
            url=base_url.rstrip("/") + PATH,
            api_key=api_key,
            errors=ErrorSpec(SERVICE, "DASHSCOPE_EMBEDDING_API_KEY", ERRORS),
            timeout=timeout,
            max_tries=max_tries,
            sleep=sleep,
            limiter=limiter,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"DashScopeEmbeddingClient(model={self.model!r}, poster={self._poster!r})"

    @property
    def url(self) -> str:
        return self._poster.url

    def embed_images(self, images: list[bytes]) -> list[list[float]]:
        return [
            self._embed_one(
                {
                    "image": data_url(
                        fit_image(data, MAX_IMAGE_BYTES, service=SERVICE, formats=IMAGE_FORMATS)
                    )
                }
            )
            for data in images
        ]

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        if any(not text.strip() for text in texts):
            raise ValueError("texts to embed must not be blank")
        return [self._embed_one({"text": text[:MAX_TEXT_CHARS]}) for text in texts]

    def _embed_one(self, content: dict[str, str]) -> list[float]:
        payload = self._poster.post({"model": self.model, "input": {"contents": [content]}})
        return self._parse(payload)

    def _parse(self, payload: dict[str, Any]) -> list[float]:
        output = payload.get("output")
        embeddings = output.get("embeddings") if isinstance(output, dict) else None
        if not isinstance(embeddings, list) or len(embeddings) != 1:
            got = len(embeddings) if isinstance(embeddings, list) else "no list"
            raise bad_response(SERVICE, f"output.embeddings should hold 1 embedding, got {got}")
        entry = embeddings[0]
        if not isinstance(entry, dict):
            raise bad_response(SERVICE, "an embedding entry is not an object")
        return checked_vector(entry.get("embedding"), self.dimensions, SERVICE)
