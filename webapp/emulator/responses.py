"""Emulated Qwen Responses API with the ``image_search`` tool (api-docs 004).

``POST /compatible-mode/v1/responses`` (also under the documented
``/api/v2/apps/protocols`` prefix) takes the document's body: a user message
whose content holds an ``input_image`` (a data: URL or an http(s) URL) and
optionally an ``input_text``, and ``tools: [{"type": "image_search"}]``.

- With ``"stream": true`` it answers server-sent events, paced so a person
  sees them arrive (``EmulatorState.pacing`` scales the pauses; 0 in tests;
  ``EmulatorState.timing.stream_seconds``, when set, makes the whole stream
  last that long instead, as the real service's ~15 s, see ``_spread``):
  ``response.created`` ... ``response.output_item.added``/``.done`` for an
  ``image_search_call`` whose ``output`` is a JSON string of
  ``[{index, title, url}]`` ... ``response.output_text.delta`` pieces of an
  answer ... ``response.completed`` with ``usage`` and ``x_tools``.
- Without it, the same response as one JSON object (the non-streaming shape).

The images are the emulator's own (``/images/<id>.jpg?w=&h=&seed=``), 10 to 20
of them, chosen deterministically from the image and the text, so the
gallery works offline and a test can expect the same answer twice.

Started with a library manifest (library.py), it answers from the local
library instead: the items most like the query image, near-copies first
(``/library/<id>.jpg``). It fetches nothing, so the image must then come as a
data: URL or as one of the emulator's own /library/ pictures. The faults that
shape the answer's size (``no_tool_call``, ``many_images``, ``two_calls``)
still answer with generated images: they test the client, not the content.

Faults, per request (``set_fault(name, count, api="responses", n=..., delay=...)``)
or from a text prefix for demos (``emulate:cut_after:3 find landscapes``):
``http_400``, ``http_401``, ``http_403``, ``http_429``, ``http_500``,
``http_503``, ``echo_key``, ``disconnect``, ``slow_first_byte`` (``delay``
seconds before answering), ``cut_after`` (close the stream after ``n``
events), ``stall_after`` (go quiet after ``n`` events for ``delay`` seconds,
then close), ``malformed_event`` (one event's data is broken JSON),
``no_tool_call`` (a text-only answer), ``many_images`` (150 images in one
call), ``two_calls`` (two searches of 60 images), ``response_failed`` (a
``response.failed`` event after the search, or after ``n`` events) and
``ignore_stream`` (one JSON object even when a stream was asked for).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from math import sqrt
from typing import Any
from urllib.parse import urlsplit

from webapp.emulator.core import (
    EmulatorState,
    Fault,
    Request,
    Response,
    Route,
    jittered,
    json_response,
    route,
)
from webapp.emulator.library import (
    EmulatedLibrary,
    QueryImageUnreadable,
    current_library,
    picture_path,
)

API = "responses"
MAX_BODY_BYTES = 32 * 1024 * 1024  # a base64 query image; the log keeps only the first MiB
FAULT_PREFIX = "emulate:"
EVENT_PAUSE_SECONDS = (0.03, 0.08)  # between events, at pacing 1
SEARCH_PAUSE_SECONDS = 1.5  # the image search itself: "a long processing time" (api-docs 004)
SEARCH_SHARE = 0.4  # of a timed stream (stream_seconds): the search; the rest is spread evenly
DEFAULT_CUT_AFTER = 3
DEFAULT_STALL_AFTER = 3
DEFAULT_STALL_SECONDS = 75.0  # past the client's 60 s idle limit
DEFAULT_SLOW_FIRST_BYTE_SECONDS = 5.0
MANY_IMAGES = 150  # past the document's maximum of 100
TWO_CALL_IMAGES = 60
_DATA_URL = re.compile(r"^data:image/[a-z0-9][a-z0-9.+\-]*;base64,(?P<data>[A-Za-z0-9+/=]+)$")
_WORD_PIECE = re.compile(r"\S+\s*|\s+")
_LIBRARY_PICTURE = re.compile(r"/library/(?P<id>[1-9][0-9]{0,17})\.jpg")
GENERATED_ONLY_FAULTS = frozenset({"no_tool_call", "many_images", "two_calls"})
UNREADABLE_IMAGE = "The image format is illegal and cannot be opened."

ERROR_FAULTS: dict[str, tuple[int, str, str, str]] = {
    # fault -> (status, code, message, type), in the OpenAI-compatible error shape
    "http_400": (400, "InvalidParameter", UNREADABLE_IMAGE, "invalid_request_error"),
    "http_401": (401, "invalid_api_key", "Incorrect API key provided. ", "invalid_request_error"),
    "http_403": (403, "AccessDenied", "Access denied.", "AccessDenied"),
    "http_429": (
        429,
        "Throttling.RateQuota",
        "Requests rate limit exceeded, please try again later.",
        "Throttling.RateQuota",
    ),
    "http_500": (
        500,
        "InternalError",
        "An internal error has occured, please try again later or contact service support.",
        "internal_error",
    ),
}
BEHAVIOUR_FAULTS = frozenset(
    {
        "http_503",
        "echo_key",
        "disconnect",
        "slow_first_byte",
        "cut_after",
        "stall_after",
        "malformed_event",
        "no_tool_call",
        "many_images",
        "two_calls",
        "response_failed",
        "ignore_stream",
    }
)
FAULTS = frozenset(ERROR_FAULTS) | BEHAVIOUR_FAULTS

_SUBJECTS = (
    "misty lake at dawn", "stone arch bridge", "mountain pavilion", "willow-lined river",
    "terraced hillside", "lotus pond", "pine forest in fog", "harbour at dusk", "snowy peak",
    "bamboo grove", "river village", "waterfall in spring", "autumn valley", "quiet temple",
)  # fmt: skip
_STYLES = (
    "Ink wash painting of a", "Watercolour of a", "Photo of a", "Traditional painting of a",
    "Serene view of a", "Soft pastel of a", "Minimalist print of a", "Vintage postcard of a",
)  # fmt: skip


# --- the handler ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ask:
    """What a valid request asks for."""

    model: str
    text: str
    image_url: str
    wants_tool: bool
    stream: bool


def handle_responses(request: Request) -> Response:
    if not _has_bearer_token(request.header("Authorization")):
        return _error(*ERROR_FAULTS["http_401"])
    ask, problem = _parse_body(request.body)
    if ask is None:
        return _error(400, "InvalidParameter", problem, "invalid_request_error")
    fault, text = _fault_for(request, ask.text)
    name = fault.name if fault is not None else ""
    if name == "slow_first_byte":
        assert fault is not None
        request.state.stopping.wait(fault.delay or DEFAULT_SLOW_FIRST_BYTE_SECONDS)
    faulted = _faulted_response(name, request)
    if faulted is not None:
        return faulted
    library = current_library(request)
    if library is not None and ask.wants_tool and name not in GENERATED_ONLY_FAULTS:
        plan, problem = _library_plan(library, ask.image_url, text, request.base_url)
        if plan is None:
            return _error(400, "InvalidParameter", problem, "invalid_request_error")
    else:
        plan = make_plan(ask.image_url, text, fault_name=name, wants_tool=ask.wants_tool)
    events = build_events(plan, model=ask.model, base_url=request.base_url, fault=fault)
    headers = {"x-request-id": str(uuid.uuid4())}
    if not ask.stream or name == "ignore_stream":
        return _whole_response(events, name, headers)
    cut_at = _cut_at(fault, len(events))
    stall = 0.0
    if fault is not None and fault.name == "stall_after" and cut_at is not None:
        stall = fault.delay if fault.delay is not None else DEFAULT_STALL_SECONDS
    frames = [_frame(kind, data, broken=broken) for kind, data, broken in events]
    return Response(
        content_type="text/event-stream; charset=utf-8",
        headers={**headers, "Cache-Control": "no-cache"},
        stream=_paced(frames, request.state, stop_after=cut_at, stall=stall),
        cut_stream=cut_at is not None,
    )


def _has_bearer_token(value: str) -> bool:
    scheme, _, token = value.strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _parse_body(raw: bytes) -> tuple[_Ask | None, str]:
    """(what is asked, "") or (None, what is wrong), in the server's words."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None, "The request body is not valid JSON."
    if not isinstance(body, dict):
        return None, "The request body must be a JSON object."
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        return None, "Missing required parameter: 'model'."
    texts, images = _content_of(body.get("input"))
    if not images:
        return None, "The image_search tool needs an image: add an input_image to the input."
    image_url = images[0]
    problem = _image_problem(image_url)
    if problem:
        return None, problem
    tools = body.get("tools")
    wants_tool = isinstance(tools, list) and any(
        isinstance(tool, dict) and tool.get("type") == "image_search" for tool in tools
    )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        return None, "'stream' must be a boolean."
    return _Ask(model, " ".join(texts).strip(), image_url, wants_tool, stream), ""


def _content_of(value: object) -> tuple[list[str], list[str]]:
    """The input_text texts and input_image URLs of the user messages."""
    texts: list[str] = []
    images: list[str] = []
    messages = value if isinstance(value, list) else []
    for message in messages:
        if not isinstance(message, dict) or message.get("role", "user") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "input_text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
                images.append(part["image_url"])
    return texts, images


def _image_problem(image_url: str) -> str:
    if image_url.startswith("data:"):
        match = _DATA_URL.fullmatch(image_url)
        if match is None:
            return "The image data URL must look like data:image/<type>;base64,<data>."
        try:
            base64.b64decode(match["data"], validate=True)
        except (binascii.Error, ValueError):
            return "The image data URL does not hold valid base64."
        return ""
    parts = urlsplit(image_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "The image_url must be an http(s) URL or a base64 data URL."
    return ""


def _fault_for(request: Request, text: str) -> tuple[Fault | None, str]:
    """The fault to apply and the text to answer; a text prefix wins over the board."""
    if text.startswith(FAULT_PREFIX):
        spec, _, rest = text[len(FAULT_PREFIX) :].partition(" ")
        name, _, number = spec.partition(":")
        if name in FAULTS:
            n = int(number) if number.isascii() and number.isdigit() else None
            return Fault(name, None, None, n), rest.strip()
    return request.state.faults.take(API), text


def _faulted_response(name: str, request: Request) -> Response | None:
    """The answer an error fault replaces the normal one with, or None."""
    if name in ERROR_FAULTS:
        return _error(*ERROR_FAULTS[name])
    if name == "echo_key":  # a careless gateway that repeats the key back
        token = request.header("Authorization").partition(" ")[2]
        message = f"Incorrect API key provided: {token}"
        return _error(401, "invalid_api_key", message, "invalid_request_error")
    if name == "http_503":  # a gateway page, not JSON: the client must cope with both
        page = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        return Response(status=503, body=page, content_type="text/html")
    if name == "disconnect":
        return Response(disconnect=True)
    return None


def _error(status: int, code: str, message: str, kind: str) -> Response:
    payload = {
        "error": {"message": message, "type": kind, "param": None, "code": code},
        "request_id": str(uuid.uuid4()),
    }
    return json_response(status, payload)


# --- content --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one answer holds, decided by the request alone."""

    calls: tuple[tuple[dict[str, Any], ...], ...]  # per image_search_call: {title, path}
    answer: str
    input_tokens: int
    output_tokens: int


def make_plan(image_url: str, text: str, *, fault_name: str = "", wants_tool: bool = True) -> Plan:
    digest = hashlib.sha256(f"{image_url}\x00{text}".encode()).hexdigest()
    rng = random.Random(digest)
    searches = wants_tool and fault_name != "no_tool_call"
    if not searches:
        sizes: list[int] = []
    elif fault_name == "many_images":
        sizes = [MANY_IMAGES]
    elif fault_name == "two_calls":
        sizes = [TWO_CALL_IMAGES, TWO_CALL_IMAGES]
    else:
        sizes = [rng.randint(10, 20)]
    calls = tuple(
        _images(rng, f"{digest[:10]}-{number}", count) for number, count in enumerate(sizes, 1)
    )
    return _plan_of(calls, text, where="the web")


def _library_plan(
    library: EmulatedLibrary, image_url: str, text: str, base_url: str
) -> tuple[Plan | None, str]:
    """(the library's answer to the image, "") or (None, what is wrong with the image)."""
    image, problem = _query_image(library, image_url, base_url)
    if image is None:
        return None, problem
    try:
        matches = library.search_image(image)
    except QueryImageUnreadable:
        return None, UNREADABLE_IMAGE
    images = tuple({"title": m.item.title, "path": picture_path(m.item)} for m in matches)
    return _plan_of((images,), text, where="your library"), ""


def _query_image(
    library: EmulatedLibrary, image_url: str, base_url: str
) -> tuple[bytes | None, str]:
    """The query image's bytes, from its data: URL or our own /library/ picture; never fetched."""
    match = _DATA_URL.fullmatch(image_url)
    if match is not None:  # _image_problem already checked the base64
        return base64.b64decode(match["data"]), ""
    parts = urlsplit(image_url)
    picture = _LIBRARY_PICTURE.fullmatch(parts.path)
    own = parts.netloc.lower() == urlsplit(base_url).netloc.lower()
    item = library.items.get(int(picture["id"])) if own and picture is not None else None
    if item is None:
        return None, (
            "The offline emulator answers from the local library and downloads nothing: send "
            "the image inline as a data: URL, or one of its own /library/<id>.jpg pictures."
        )
    try:
        return library.picture(item), ""
    except (OSError, ValueError):  # the file went or changed since the export
        return None, UNREADABLE_IMAGE


def _plan_of(calls: tuple[tuple[dict[str, Any], ...], ...], text: str, *, where: str) -> Plan:
    total = sum(len(images) for images in calls)
    answer = _answer(text, total, calls[0][0]["title"] if total else "", where=where)
    return Plan(
        calls=calls,
        answer=answer,
        # The search results are appended to the prompt (api-docs 004, Billing).
        input_tokens=1200 + 60 * total + len(text),
        output_tokens=max(1, round(len(answer.split()) * 1.3)),
    )


def _images(rng: random.Random, slug: str, count: int) -> tuple[dict[str, Any], ...]:
    images = []
    for number in range(1, count + 1):
        width, height = _size(rng, small=number % 6 == 0)
        title = f"{rng.choice(_STYLES)} {rng.choice(_SUBJECTS)}"
        path = f"/images/{slug}-{number:03d}.jpg?w={width}&h={height}&seed={rng.randrange(2**31)}"
        images.append({"title": title, "path": path})
    return tuple(images)


def _size(rng: random.Random, *, small: bool) -> tuple[int, int]:
    """Landscape, portrait or square; 0.5 to 2.5 MP, or a small picture now and then."""
    ratio = rng.choice([4 / 3, 3 / 2, 16 / 9, 3 / 4, 2 / 3, 1.0, 788 / 450])
    pixels = rng.uniform(0.04e6, 0.2e6) if small else rng.uniform(0.5e6, 2.5e6)
    width = round(sqrt(pixels * ratio))
    return min(width, 4000), min(round(width / ratio), 4000)


def _answer(text: str, found: int, first_title: str, *, where: str = "the web") -> str:
    note = "\n\n(Written by Loupe's offline emulator, not by a real model.)"
    if not found:
        return (
            f"I looked at your image but did not search {where} this time, so I have no "
            "similar images to show. It appears to be a calm scene with soft colours; ask "
            "again to search for similar images." + note
        )
    asked = f" with “{text}” in mind" if text else ""
    return (
        f"OK. I searched {where} for images like yours{asked} and found {found} of them.\n\n"
        "What they have in common:\n"
        "*   **Composition**: a wide view with a clear foreground and a distant background.\n"
        "*   **Colour**: soft, muted tones with gentle gradients.\n"
        "*   **Mood**: calm and quiet, with no crowds.\n\n"
        f"The closest match is “{first_title}”." + note
    )


# --- events ---------------------------------------------------------------------------------------


def build_events(
    plan: Plan, *, model: str, base_url: str, fault: Fault | None = None
) -> list[tuple[str, dict[str, Any], bool]]:
    """(type, data, broken) for every event of the answer, ``response.completed`` last."""
    response_id = f"resp_{uuid.uuid4().hex[:24]}"
    shell: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "in_progress",
        "output": [],
        "tools": [{"type": "image_search"}],
        "usage": None,
    }
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": shell}),
        ("response.in_progress", {"response": shell}),
    ]
    output: list[dict[str, Any]] = []
    for images in plan.calls:
        item_id = f"isc_{uuid.uuid4().hex[:24]}"
        index = len(output)
        where = {"output_index": index, "item_id": item_id}
        listing = [
            {"index": number, "title": image["title"], "url": base_url + image["path"]}
            for number, image in enumerate(images, 1)
        ]
        done = {
            "id": item_id,
            "type": "image_search_call",
            "status": "completed",
            "output": json.dumps(listing, ensure_ascii=False),  # a JSON string, as documented
        }
        events += [
            (
                "response.output_item.added",
                {
                    "output_index": index,
                    "item": {"id": item_id, "type": "image_search_call", "status": "in_progress"},
                },
            ),
            # Modelled on OpenAI's web_search_call progress events; clients ignore them.
            ("response.image_search_call.in_progress", where),
            ("response.image_search_call.searching", where),
            ("response.image_search_call.completed", where),
            ("response.output_item.done", {"output_index": index, "item": done}),
        ]
        output.append(done)
    events += _message_events(plan.answer, index=len(output), output=output)
    usage: dict[str, Any] = {
        "input_tokens": plan.input_tokens,
        "output_tokens": plan.output_tokens,
        "total_tokens": plan.input_tokens + plan.output_tokens,
    }
    if plan.calls:
        usage["x_tools"] = {"image_search": {"count": len(plan.calls)}}
    final = {**shell, "status": "completed", "output": output, "usage": usage}
    events.append(("response.completed", {"response": final}))
    if fault is not None and fault.name == "response_failed":
        events = _failing(events, fault.n, shell)
    broken_at = (
        _broken_index(events) if fault is not None and fault.name == "malformed_event" else -1
    )
    return [
        (kind, {"type": kind, "sequence_number": number, **data}, number == broken_at)
        for number, (kind, data) in enumerate(events)
    ]


def _message_events(
    answer: str, *, index: int, output: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    item_id = f"msg_{uuid.uuid4().hex[:24]}"
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    part = {"type": "output_text", "text": answer, "annotations": []}
    message = {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [part],
    }
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "response.output_item.added",
            {"output_index": index, "item": {**message, "status": "in_progress", "content": []}},
        ),
        ("response.content_part.added", {**where, "part": {**part, "text": ""}}),
    ]
    events += [
        ("response.output_text.delta", {**where, "delta": piece}) for piece in _pieces(answer)
    ]
    events += [
        ("response.output_text.done", {**where, "text": answer}),
        ("response.content_part.done", {**where, "part": part}),
        ("response.output_item.done", {"output_index": index, "item": message}),
    ]
    output.append(message)
    return events


def _pieces(answer: str) -> list[str]:
    """A model's deltas: a few words each, whitespace kept, so joined they are the answer."""
    words = _WORD_PIECE.findall(answer)
    return ["".join(words[start : start + 3]) for start in range(0, len(words), 3)]


def _failing(
    events: list[tuple[str, dict[str, Any]]], n: int | None, shell: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """Stop after the first search's results (or after ``n`` events) with response.failed."""
    if n is None:
        done = [i for i, (kind, data) in enumerate(events) if _is_search_done(kind, data)]
        n = done[0] + 1 if done else 2
    error = {"code": "InternalError", "message": "The model service failed; please try again."}
    failed = {**shell, "status": "failed", "error": error}
    return [*events[:n], ("response.failed", {"response": failed})]


def _is_search_done(kind: str, data: dict[str, Any]) -> bool:
    item = data.get("item")
    return (
        kind == "response.output_item.done"
        and isinstance(item, dict)
        and item.get("type") == "image_search_call"
    )


def _broken_index(events: list[tuple[str, dict[str, Any]]]) -> int:
    """The event ``malformed_event`` breaks: the second text delta (or the second event)."""
    deltas = [i for i, (kind, _) in enumerate(events) if kind == "response.output_text.delta"]
    return deltas[1] if len(deltas) > 1 else 1


def _frame(kind: str, data: dict[str, Any], *, broken: bool = False) -> bytes:
    text = json.dumps(data, ensure_ascii=False)
    if broken:
        text = text[: len(text) // 2]  # the JSON stops mid-way, as a buggy proxy might cut it
    return f"event: {kind}\ndata: {text}\n\n".encode()


def _cut_at(fault: Fault | None, total: int) -> int | None:
    """How many events to send before the connection goes, or None for all of them."""
    if fault is None or fault.name not in ("cut_after", "stall_after"):
        return None
    default = DEFAULT_CUT_AFTER if fault.name == "cut_after" else DEFAULT_STALL_AFTER
    n = fault.n if fault.n is not None else default
    return n if n < total else None


def _paced(
    frames: list[bytes], state: EmulatorState, *, stop_after: int | None, stall: float
) -> Iterator[bytes]:
    """Each event after a pause; the image search itself takes longest.

    The pauses are decided when the stream starts, so changing the timing
    while it runs affects the next stream, not this one.
    """
    pauses = _pauses(frames, state)
    for number, (frame, pause) in enumerate(zip(frames, pauses, strict=True)):
        if stop_after is not None and number >= stop_after:
            break
        if pause and state.stopping.wait(pause):
            return  # the server is stopping: no sleeper may hold it up
        yield frame
    if stall:
        state.stopping.wait(stall)


def _pauses(frames: list[bytes], state: EmulatorState) -> list[float]:
    """The seconds to wait before each frame; the first goes out at once."""
    rng = random.Random()  # only the timing varies between runs
    total = jittered(state.timing.stream_seconds, rng)
    if total:
        return _spread(frames, total)
    return [
        _pause(frame, rng) * state.pacing if number else 0.0 for number, frame in enumerate(frames)
    ]


def _pause(frame: bytes, rng: random.Random) -> float:
    if _is_search_completed(frame):
        return SEARCH_PAUSE_SECONDS
    return rng.uniform(*EVENT_PAUSE_SECONDS)


def _spread(frames: list[bytes], total: float) -> list[float]:
    """Pauses that make the stream last ``total`` seconds, in the document's order.

    The search itself takes SEARCH_SHARE of the time (split between the calls,
    when there are two); every other gap gets an even share of the rest. So
    the images arrive part-way through, and the text deltas keep coming until
    the end, as on the real service, rather than everything at the last second.
    """
    gaps = frames[1:]
    searches = sum(1 for frame in gaps if _is_search_completed(frame))
    others = len(gaps) - searches
    # With no search (no_tool_call), or nothing but searches, one kind of gap takes it all.
    search_time = total if not others else (total * SEARCH_SHARE if searches else 0.0)
    search_pause = search_time / searches if searches else 0.0
    other_pause = (total - search_time) / others if others else 0.0
    return [0.0] + [search_pause if _is_search_completed(frame) else other_pause for frame in gaps]


def _is_search_completed(frame: bytes) -> bool:
    """The event that follows the search itself: the pause before it is the search."""
    return frame.startswith(b"event: response.image_search_call.completed")


def _whole_response(
    events: list[tuple[str, dict[str, Any], bool]], name: str, headers: dict[str, str]
) -> Response:
    """The non-streaming answer: the last event's response object, as one JSON body."""
    data = events[-1][1]
    body = json.dumps(data["response"], ensure_ascii=False).encode("utf-8")
    if name in ("cut_after", "stall_after", "malformed_event"):
        body = body[: len(body) // 2]  # without a stream, any of these is a cut-off body
    return Response(body=body, headers=headers)


ROUTES: list[Route] = [
    route(
        "POST",
        r"(?:/api/v2/apps/protocols)?/compatible-mode/v1/responses",
        handle_responses,
    )
]
