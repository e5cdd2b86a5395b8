"""Emulated DashScope multimodal-embedding-v1 (api-docs 003, "HTTP").

``POST /api/v1/services/embeddings/multimodal-embedding/multimodal-embedding``
with a bearer key and ``{"model", "input": {"contents": [{"text"} | {"image"}]}}``,
answered as ``{"output": {"embeddings": [{"index", "embedding", "type"}]},
"usage", "request_id"}`` with vectors from embedding_space.py. It enforces
what the document states: one input a call, images of at most 3 MB in JPG,
PNG or BMP, text of at most 512 tokens (counted as words and CJK characters
here), and the model's name.

Faults (``set_fault(name, count, api="dashscope_embedding", ...)``):
DashScope's general codes ``InvalidApiKey``, ``AccessDenied``, ``Arrearage``,
``DataInspectionFailed``, ``Throttling.RateQuota``,
``Throttling.AllocationQuota``, ``InternalError``, ``RequestTimeOut``; and
``http_503`` (a gateway's HTML page), ``malformed_json``, ``wrong_shape``,
``wrong_dims``, ``disconnect``, ``slow`` (``delay`` seconds first) and
``echo_key``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from typing import Any

from webapp.emulator.core import Fault, Request, Response, Route, json_response, route
from webapp.emulator.embedding_space import (
    UnreadableImage,
    image_vector,
    text_vector,
    url_vector,
)

API = "dashscope_embedding"
MODELS = {"multimodal-embedding-v1": 1024}
DOCUMENT_IMAGE_LIMIT = 3 * 1024 * 1024  # "Image size: ≤ 3 MB", read generously (MiB)
MAX_TEXT_TOKENS = 512
MAX_BODY_BYTES = 8 * 1024 * 1024  # a 3 MB image as base64, with room to refuse a larger one
IMAGE_KINDS = frozenset({"jpeg", "jpg", "png", "bmp"})
DEFAULT_SLOW_SECONDS = 35.0
_DATA_URL = re.compile(r"^data:image/(?P<kind>[a-z0-9.+\-]+);base64,(?P<data>[A-Za-z0-9+/=]+)$")
_TOKEN = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")

DOCUMENTED_ERRORS: dict[str, tuple[int, str]] = {
    "InvalidApiKey": (401, "Invalid API-key provided."),
    "AccessDenied": (403, "Access denied."),
    "Arrearage": (400, "Access denied, plesase make sure your account is in good standing."),
    "DataInspectionFailed": (400, "Input or output data may contain inappropriate content."),
    "Throttling.RateQuota": (429, "Requests rate limit exceeded, please try again later."),
    "Throttling.AllocationQuota": (429, "Allocated quota exceeded, please increase your quota."),
    "InternalError": (500, "An internal error has occured, please try again later."),
    "RequestTimeOut": (408, "Request timed out, please try again later."),
}
BEHAVIOUR_FAULTS = frozenset(
    {"http_503", "malformed_json", "wrong_shape", "wrong_dims", "disconnect", "slow", "echo_key"}
)
FAULTS = frozenset(DOCUMENTED_ERRORS) | BEHAVIOUR_FAULTS


def handle_embedding(request: Request) -> Response:
    if not _bearer(request.header("Authorization")):
        return _documented("InvalidApiKey")
    fault = request.state.faults.take(API)
    if fault is not None:
        faulted = _faulted(fault, request)
        if faulted is not None:
            return faulted
    content, model, problem = _content(request.body)
    if problem:
        return _error(400, "InvalidParameter", problem)
    dims = MODELS[model]
    text, image = content.get("text"), content.get("image")
    if image:
        vector, problem = _image_vector(str(image), dims)
        if problem:
            return _error(400, "InvalidParameter", problem)
        kind, usage = "image", {"input_tokens": 0, "image_tokens": 1000, "image_count": 1}
    else:
        tokens = len(_TOKEN.findall(str(text)))
        if tokens > MAX_TEXT_TOKENS:
            return _error(
                400, "InvalidParameter", f"The text holds {tokens} tokens; at most 512 are allowed."
            )
        vector, kind, usage = text_vector(str(text), dims), "text", {"input_tokens": tokens}
    embeddings: list[dict[str, Any]] = [{"index": 0, "embedding": vector, "type": kind}]
    if fault is not None and fault.name == "wrong_dims":
        embeddings[0]["embedding"] = vector[:-1]
    return json_response(
        200, {"output": {"embeddings": embeddings}, "usage": usage, "request_id": _request_id()}
    )


def _bearer(value: str) -> bool:
    scheme, _, token = value.strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _content(raw: bytes) -> tuple[dict[str, Any], str, str]:
    """(the one content object, the model, "") or ({}, "", what is wrong)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return {}, "", "The request body is not valid JSON."
    if not isinstance(body, dict):
        return {}, "", "The request body must be a JSON object."
    model = body.get("model")
    if not model:
        return {}, "", 'Required parameter "model" missing from request.'
    if model not in MODELS:
        return {}, "", "Model not exist."
    data = body.get("input")
    contents = data.get("contents") if isinstance(data, dict) else None
    if not isinstance(contents, list) or not contents:
        return {}, "", "Required input parameter missing from request: input.contents."
    if len(contents) > 1:
        return {}, "", f"{model} takes one input per call, got {len(contents)}."
    content = contents[0]
    if not isinstance(content, dict):
        return {}, "", "input.contents[0] must be an object."
    text, image = content.get("text"), content.get("image")
    if "video" in content:
        return {}, "", "The emulator does not embed videos."
    if not (isinstance(text, str) and text.strip()) and not (isinstance(image, str) and image):
        return {}, "", "input.contents[0] needs a text or an image."
    return content, str(model), ""


def _image_vector(image: str, dims: int) -> tuple[list[float], str]:
    if image.startswith(("http://", "https://")):
        return url_vector(image, dims), ""
    match = _DATA_URL.fullmatch(image)
    if match is None:
        return [], "The image must be a URL or data:image/{format};base64,{data}."
    if match["kind"] not in IMAGE_KINDS:
        return [], f"The image format {match['kind']} is not supported; use JPG, PNG or BMP."
    try:
        data = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        return [], "The image's base64 data is not valid."
    if len(data) > DOCUMENT_IMAGE_LIMIT:
        return [], f"The image is {len(data)} bytes; images must be at most 3 MB."
    try:
        return image_vector(data, dims), ""
    except UnreadableImage:
        return [], "The image could not be decoded."


def _faulted(fault: Fault, request: Request) -> Response | None:
    name = fault.name
    if name in DOCUMENTED_ERRORS:
        return _documented(name)
    if name == "echo_key":
        token = request.header("Authorization").partition(" ")[2]
        return _error(401, "InvalidApiKey", f"Invalid API-key provided: {token}")
    if name == "http_503":
        page = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        return Response(status=503, body=page, content_type="text/html")
    if name == "malformed_json":
        return Response(body=b'{"output": {"embeddings": [{"index": 0, "embedding": [0.1, ')
    if name == "wrong_shape":
        return json_response(200, {"output": {"embedding": []}, "request_id": _request_id()})
    if name == "disconnect":
        return Response(disconnect=True)
    if name == "slow":
        request.state.stopping.wait(fault.delay or DEFAULT_SLOW_SECONDS)
    return None


def _documented(code: str) -> Response:
    status, message = DOCUMENTED_ERRORS[code]
    return _error(status, code, message)


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"code": code, "message": message, "request_id": _request_id()})


def _request_id() -> str:
    return str(uuid.uuid4())


ROUTES: list[Route] = [
    route(
        "POST",
        r"/api/v1/services/embeddings/multimodal-embedding/multimodal-embedding",
        handle_embedding,
    )
]
