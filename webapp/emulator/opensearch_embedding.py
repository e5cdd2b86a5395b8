"""Emulated OpenSearch multi-modal embedding (api-docs 002).

``POST /v3/openapi/workspaces/<workspace>/multi-modal-embedding/<service_id>``
with a bearer key and ``{"input": [{"text"} | {"image"}]}``, answered in the
documented shape with vectors from embedding_space.py (deterministic; images
by their coarse content, so near-copies are near). It enforces what the
document states: at most 32 inputs, a body of at most 8 MB, a known service
id, and for the m2 encoders the image ignored when a text is also given.

Faults (``set_fault(name, count, api="opensearch_embedding", ...)``):
the platform's documented codes ``InvalidParameter``, ``ServiceIdNotExist``,
``Throttling``, ``Throttling.RateQuota``, ``Throttling.AllocationQuota``,
``InternalServerError``; and ``http_401`` (a refused key: the document names
no code for it, so the emulator says ``Unauthorized``), ``http_503`` (a
gateway's HTML page), ``malformed_json``, ``wrong_shape``, ``wrong_count``,
``wrong_dims``, ``disconnect``, ``slow`` (``delay`` seconds first),
``echo_key``, and ``qps_limit``: while set, more than ``n`` (default 10)
requests within one second answer ``Throttling.RateQuota``, as the real 10
QPS limit would.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import uuid
from collections import deque
from typing import Any

from webapp.emulator.core import Fault, Request, Response, Route, json_response, route
from webapp.emulator.embedding_space import (
    UnreadableImage,
    image_vector,
    text_vector,
    url_vector,
)

API = "opensearch_embedding"
MODELS = {
    "ops-m2-encoder": 768,
    "ops-m2-encoder-large": 1024,
    "ops-gme-qwen2-vl-2b-instruct": 1536,
}
TEXT_OR_IMAGE_ONLY = frozenset({"ops-m2-encoder", "ops-m2-encoder-large"})
MAX_INPUTS = 32
DOCUMENT_BODY_LIMIT = 8 * 1024 * 1024  # "must not exceed 8 MB", read generously (MiB)
MAX_BODY_BYTES = 16 * 1024 * 1024  # what the socket accepts, so we can answer the 8 MB rule
DEFAULT_SLOW_SECONDS = 35.0  # past the client's default 30 s deadline
DEFAULT_QPS = 10
_DATA_URL = re.compile(r"^data:image/(?P<kind>[a-z0-9.+\-]+);base64,(?P<data>[A-Za-z0-9+/=]+)$")

DOCUMENTED_ERRORS: dict[str, tuple[int, str]] = {
    "InvalidParameter": (
        400,
        "Required parameter(s) missing or invalid, please check the request parameters.",
    ),
    "ServiceIdNotExist": (400, "service_id is not exist."),
    "Throttling": (429, "Requests throttling triggered."),
    "Throttling.RateQuota": (429, "Requests rate limit exceeded, please try again later."),
    "Throttling.AllocationQuota": (429, "Free allocated quota exceeded."),
    "InternalServerError": (
        500,
        "An internal error has occured, please try again later or contact service support.",
    ),
}
BEHAVIOUR_FAULTS = frozenset(
    {
        "http_401",
        "http_503",
        "malformed_json",
        "wrong_shape",
        "wrong_count",
        "wrong_dims",
        "disconnect",
        "slow",
        "echo_key",
        "qps_limit",
    }
)
FAULTS = frozenset(DOCUMENTED_ERRORS) | BEHAVIOUR_FAULTS

_arrivals: dict[int, deque[float]] = {}
_arrivals_lock = threading.Lock()


def handle_embedding(request: Request) -> Response:
    if not _bearer(request.header("Authorization")):
        return _error(401, "Unauthorized", "The API key is missing or invalid.")
    service_id = request.match["service_id"]
    fault = request.state.faults.take(API)
    if fault is not None:
        faulted = _faulted(fault, request)
        if faulted is not None:
            return faulted
    if service_id not in MODELS:
        return _documented("ServiceIdNotExist")
    if len(request.body) > DOCUMENT_BODY_LIMIT:
        return _error(400, "InvalidParameter", "The request body must not exceed 8 MB.")
    inputs, problem = _inputs(request.body)
    if problem:
        return _error(400, "InvalidParameter", problem)
    dims = MODELS[service_id]
    embeddings = []
    images = tokens = 0
    for index, item in enumerate(inputs):
        vector, problem, counted_image = _embed(item, service_id, dims)
        if problem:
            return _error(400, "InvalidParameter", f"input[{index}]: {problem}")
        images += counted_image
        tokens += len(str(item.get("text", "")).split()) + (28 if counted_image else 0)
        embeddings.append({"index": index, "embedding": vector})
    if fault is not None:
        embeddings = _damaged(fault.name, embeddings)
    return json_response(
        200,
        {
            "request_id": _request_id(),
            "latency": 38,
            "usage": {"image": images, "token_count": tokens},
            "result": {"embeddings": embeddings},
        },
    )


def _bearer(value: str) -> bool:
    scheme, _, token = value.strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _inputs(raw: bytes) -> tuple[list[dict[str, Any]], str]:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        return [], f"JSON parse error: {exc}"
    inputs = body.get("input") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        return [], "input must be a non-empty list of content objects."
    if len(inputs) > MAX_INPUTS:
        return [], f"input holds {len(inputs)} entries; the maximum is {MAX_INPUTS}."
    if not all(isinstance(item, dict) for item in inputs):
        return [], "each input entry must be an object with a text or an image."
    return inputs, ""


def _embed(item: dict[str, Any], service_id: str, dims: int) -> tuple[list[float], str, bool]:
    """(vector, problem, whether an image was used)."""
    text, image = item.get("text"), item.get("image")
    if text is not None and not isinstance(text, str):
        return [], "text must be a string.", False
    if image is not None and not isinstance(image, str):
        return [], "image must be a string (a URL or base64 data).", False
    if service_id in TEXT_OR_IMAGE_ONLY and text:
        image = None  # the document: "Providing both fields causes the image to be ignored."
    if not text and not image:
        return [], "each entry needs a text or an image.", False
    image_part: list[float] | None = None
    if image:
        image_part, problem = _image_vector(image, dims)
        if problem:
            return [], problem, False
    if text and image_part is not None:  # gme: one vector for both
        combined = [a + b for a, b in zip(text_vector(text, dims), image_part, strict=True)]
        norm = sum(v * v for v in combined) ** 0.5 or 1.0
        return [round(v / norm, 7) for v in combined], "", True
    if image_part is not None:
        return image_part, "", True
    return text_vector(str(text), dims), "", False


def _image_vector(image: str, dims: int) -> tuple[list[float] | None, str]:
    if image.startswith(("http://", "https://")):
        return url_vector(image, dims), ""
    match = _DATA_URL.fullmatch(image)
    if match is None:
        return None, "image must be a URL or data:image/{format};base64,{data}."
    try:
        data = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        return None, "the image's base64 data is not valid."
    try:
        return image_vector(data, dims), ""
    except UnreadableImage:
        return None, "the image could not be decoded."


def _faulted(fault: Fault, request: Request) -> Response | None:
    name = fault.name
    if name in DOCUMENTED_ERRORS:
        return _documented(name)
    if name == "http_401":
        return _error(401, "Unauthorized", "The API key is missing or invalid.")
    if name == "echo_key":
        token = request.header("Authorization").partition(" ")[2]
        return _error(401, "Unauthorized", f"Invalid api key: {token}")
    if name == "http_503":
        page = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        return Response(status=503, body=page, content_type="text/html")
    if name == "malformed_json":
        return Response(body=b'{"request_id": "cut", "result": {"embeddings": [{"index": 0, "emb')
    if name == "wrong_shape":
        return json_response(200, {"request_id": _request_id(), "result": {"vectors": []}})
    if name == "disconnect":
        return Response(disconnect=True)
    if name == "slow":
        request.state.stopping.wait(fault.delay or DEFAULT_SLOW_SECONDS)
    if name == "qps_limit" and _over_rate(request, fault.n or DEFAULT_QPS):
        return _documented("Throttling.RateQuota")
    return None


def _over_rate(request: Request, qps: int) -> bool:
    """Count this arrival; True when more than ``qps`` arrived within the last second."""
    now = time.monotonic()
    with _arrivals_lock:
        window = _arrivals.setdefault(id(request.state), deque())
        while window and now - window[0] >= 1.0:
            window.popleft()
        window.append(now)
        return len(window) > qps


def _damaged(name: str, embeddings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if name == "wrong_count":
        return embeddings[:-1]
    if name == "wrong_dims":
        return [{**entry, "embedding": entry["embedding"][:-1]} for entry in embeddings]
    return embeddings


def _documented(code: str) -> Response:
    status, message = DOCUMENTED_ERRORS[code]
    return _error(status, code, message)


def _error(status: int, code: str, message: str) -> Response:
    payload = {"request_id": _request_id(), "latency": 0, "code": code, "message": message}
    return json_response(status, payload)


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


ROUTES: list[Route] = [
    route(
        "POST",
        r"/v3/openapi/workspaces/(?P<workspace>[^/]+)/multi-modal-embedding/(?P<service_id>[^/]+)",
        handle_embedding,
    )
]
