"""Emulated IQS MultimodalSearch: ``POST /search/multimodal`` (api-docs 000/001).

"lion" and "狮子" answer the documents' own example responses (fixtures/),
with each imageUrl pointing at our /images endpoint so the pictures can be
fetched offline; any other query gets 20 deterministic generated items.
Started with a library manifest (library.py), it answers from the local
library first: the items whose text matches, best first, with their pictures
and pages served by the emulator; a query the library does not match gets the
answer above.

It answers after ``EmulatorState.timing.iqs_latency`` seconds (±10%), the
real service's searchTime being 808 to 1048 ms; 0 (the default) answers at
once. The answer's searchTime then reports the time taken.

Faults come from the fault board (tests, ``POST /_emulator/faults``) or from a
query prefix for manual demos: ``emulate:Retrieval.Arrears lion``.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
import zlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import cache
from math import sqrt
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from webapp.emulator.core import (
    Fault,
    Request,
    Response,
    Route,
    jittered,
    json_response,
    route,
)
from webapp.emulator.library import EmulatedLibrary, current_library, page_path, picture_path

API = "iqs"
QUERY_MAX_CHARS = 50
DEFAULT_SLOW_SECONDS = 7.0  # past the client's 6 s deadline (the server's own limit is 5 s)
TRICKLE_SECONDS = 0.2  # between chunks: each read is quick, the whole answer takes minutes
FAULT_PREFIX = "emulate:"
_FIXTURES = Path(__file__).parent / "fixtures"
_BEIJING = timezone(timedelta(hours=8))
_GENERATED_UNTIL = datetime(2026, 1, 1, tzinfo=_BEIJING)  # fixed, so answers never drift

# code -> (status, message) as the Chinese document lists them: those read like
# the server's own strings, where the English page rewrote them as prose.
DOCUMENTED_ERRORS: dict[str, tuple[int, str]] = {
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    "Retrieval.NotActivate": (403, "Please activate AI search service"),
    "Retrieval.Arrears": (403, "Please recharge first."),
    "Retrieval.NotAuthorised": (
        403,
        "Please authorize the AliyunIQSFullAccess privilege to the sub-account.",
    ),
    "Retrieval.TestUserPeriodExpired": (403, "The test period has expired."),
    "Retrieval.Throttling.User": (429, "Request was denied due to user flow control."),
    "Retrieval.TestUserQueryPerDayExceeded": (429, "The query per day exceed the limit."),
}
BEHAVIOUR_FAULTS = frozenset(
    {
        "slow",
        "malformed_json",
        "wrong_shape",
        "partial_items",
        "http_500",
        "http_503",
        "empty",
        "disconnect",
        "trickle",
        "echo_key",
    }
)
FAULTS = frozenset(DOCUMENTED_ERRORS) | BEHAVIOUR_FAULTS

_FIXTURE_FILES = {"lion": "iqs_lion.json", "shizi": "iqs_shizi.json"}


# --- the handler -------------------------------------------------------------------------


def handle_search(request: Request) -> Response:
    if not _has_bearer_token(request.header("Authorization")):
        return _error("InvalidAccessKeyId.NotFound")
    body, problem = _parse_body(request.body)
    if problem:
        return _invalid(problem)
    query: str = body["query"]
    searched_for = _take_the_services_time(request)
    fault, content_query = _fault_for(request, query)
    if fault is not None:
        if fault.name == "slow":
            request.state.stopping.wait(fault.delay or DEFAULT_SLOW_SECONDS)
        else:
            faulted = _faulted_response(fault.name, request)
            if faulted is not None:
                return faulted
    templates = _templates_for(content_query, current_library(request))
    items = _materialize(templates, request.base_url)
    items = _without_sites(items, _exclude_sites(body))
    if fault is not None and fault.name == "partial_items":
        items = _damage(items)
    if fault is not None and fault.name == "empty":
        items = []
    answer = json_response(200, _answer(query, items, searched_for))
    if fault is not None and fault.name == "trickle":
        return replace(answer, trickle=TRICKLE_SECONDS)
    return answer


def _take_the_services_time(request: Request) -> float:
    """Wait as long as the real search would (the set latency, jittered); the seconds waited.

    A bad key or body is refused at once, before any search would run; the
    faults (errors included) come after the wait, as the service's own do.
    The wait ends early when the server stops, so shutting down never waits.
    """
    seconds = jittered(request.state.timing.iqs_latency)
    if seconds:
        request.state.stopping.wait(seconds)
    return seconds


def _answer(query: str, items: list[dict[str, Any]], searched_for: float = 0.0) -> dict[str, Any]:
    # With a latency set, searchTime says how long we took, as the real one does.
    search_time = round(searched_for * 1000) if searched_for else _search_time(query)
    return {
        "requestId": _request_id(),
        "imageItems": items,
        "searchInformation": {"searchTime": search_time},
        "queryContext": {"originalQuery": {"query": query}},
    }


def _has_bearer_token(value: str) -> bool:
    scheme, _, token = value.strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _parse_body(raw: bytes) -> tuple[dict[str, Any], str]:
    """(body, "") or ({}, what is wrong)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return {}, "The request body is not valid JSON."
    if not isinstance(body, dict):
        return {}, "The request body must be a JSON object."
    query = body.get("query")
    if not isinstance(query, str) or not 1 <= len(query) <= QUERY_MAX_CHARS:
        return {}, f"query must be a string of 1 to {QUERY_MAX_CHARS} characters."
    advanced = body.get("advancedParams", {})
    if not isinstance(advanced, dict) or not all(isinstance(v, str) for v in advanced.values()):
        return {}, "advancedParams must be a map<string, string>."
    return body, ""


def _fault_for(request: Request, query: str) -> tuple[Fault | None, str]:
    """The fault to apply and the query whose content to serve.

    A query prefix wins over the board, since it is the person's explicit ask.
    """
    if query.startswith(FAULT_PREFIX):
        name, _, rest = query[len(FAULT_PREFIX) :].partition(" ")
        if name in FAULTS:
            return Fault(name, None), rest.strip() or "lion"
    return request.state.faults.take(API), query


def _faulted_response(name: str, request: Request) -> Response | None:
    """The answer a fault replaces the normal one with, or None to answer normally."""
    if name in DOCUMENTED_ERRORS:
        return _error(name)
    if name == "echo_key":  # a careless gateway that repeats the key back
        token = request.header("Authorization").partition(" ")[2]
        message = f"Specified access key is not found: {token}"
        payload = {"requestId": _request_id(), "code": "InvalidAccessKeyId.NotFound"}
        return json_response(404, {**payload, "message": message})
    if name == "http_500":
        message = "The request processing has failed due to some unknown error."
        return json_response(
            500, {"requestId": _request_id(), "code": "InternalError", "message": message}
        )
    if name == "http_503":  # a gateway page, not JSON: the client must cope with both
        page = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        return Response(status=503, body=page, content_type="text/html")
    if name == "malformed_json":
        return Response(body=b'{"requestId": "cut", "imageItems": [{"title": "cut off')
    if name == "wrong_shape":
        return json_response(200, {"requestId": _request_id(), "imageItems": {"items": []}})
    if name == "disconnect":
        return Response(disconnect=True)
    return None


def _error(code: str) -> Response:
    status, message = DOCUMENTED_ERRORS[code]
    return json_response(status, {"requestId": _request_id(), "code": code, "message": message})


def _invalid(message: str) -> Response:
    # The document does not list a validation error; this mirrors the shape of the others.
    payload = {"requestId": _request_id(), "code": "InvalidParameter", "message": message}
    return json_response(400, payload)


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _search_time(query: str) -> int:
    return 300 + zlib.crc32(query.encode("utf-8")) % 900  # plausible, and stable per query


# --- content -------------------------------------------------------------------------------


def _templates_for(
    query: str, library: EmulatedLibrary | None = None
) -> tuple[dict[str, Any], ...]:
    """Items whose emulator-owned URLs are still paths ("/images/..."), for any host."""
    if library is not None:
        matches = _library_templates(library, query)
        if matches:
            return matches
        # Nothing in the library matches: answer as without one, so a fresh
        # install still shows the web path working ("lion" is the docs' example).
    key = query.strip()
    if key.lower() == "lion":
        return _fixture_templates("lion")
    if key == "狮子":
        return _fixture_templates("shizi")
    return _generated_templates(query)


def _library_templates(library: EmulatedLibrary, query: str) -> tuple[dict[str, Any], ...]:
    """The library's matches in the documents' item shape (and key order)."""
    return tuple(
        {
            "title": match.item.title,
            "publishedTime": match.item.published,
            "imageUrl": picture_path(match.item),
            "hostPageUrl": page_path(match.item),
            "height": match.item.height,
            "width": match.item.width,
        }
        for match in library.search_text(query)
    )


def original_image_urls() -> dict[str, str]:
    """Image id -> the imageUrl the document gave (we serve our own picture instead)."""
    return {
        f"{name}-{n:02d}": item["imageUrl"]
        for name in _FIXTURE_FILES
        for n, item in enumerate(_fixture_items(name), start=1)
    }


@cache
def _fixture_items(name: str) -> tuple[dict[str, Any], ...]:
    document = json.loads((_FIXTURES / _FIXTURE_FILES[name]).read_text(encoding="utf-8"))
    return tuple(document["imageItems"])


@cache
def _fixture_templates(name: str) -> tuple[dict[str, Any], ...]:
    templates = []
    for n, item in enumerate(_fixture_items(name), start=1):
        image_id = f"{name}-{n:02d}"
        template = dict(item)
        seed = zlib.crc32(image_id.encode("ascii"))
        template["imageUrl"] = _image_path(image_id, item["width"], item["height"], seed)
        templates.append(template)
    return tuple(templates)


@cache
def _generated_templates(query: str) -> tuple[dict[str, Any], ...]:
    digest = hashlib.sha256(query.encode("utf-8")).hexdigest()
    rng = random.Random(digest)
    slug = digest[:10]
    templates = []
    for n in range(1, 21):
        width, height = _generated_size(rng, small=n % 5 == 0)
        age = timedelta(seconds=rng.randrange(6 * 365 * 24 * 3600))
        templates.append(
            {
                "title": f'Emulated result {n} for "{query}"',
                "publishedTime": (_GENERATED_UNTIL - age).isoformat(),
                "imageUrl": _image_path(f"{slug}-{n:02d}", width, height, rng.randrange(2**31)),
                "hostPageUrl": f"/pages/{slug}-{n:02d}",
                "height": height,
                "width": width,
            }
        )
    return tuple(templates)


def _generated_size(rng: random.Random, *, small: bool) -> tuple[int, int]:
    """Landscape, portrait or square; 1 to 3 MP, or a small picture now and then."""
    ratio = rng.choice([4 / 3, 3 / 2, 16 / 9, 3 / 4, 2 / 3, 9 / 16, 1.0])
    pixels = rng.uniform(0.04e6, 0.3e6) if small else rng.uniform(1e6, 3e6)
    width = round(sqrt(pixels * ratio))
    return min(width, 4000), min(round(width / ratio), 4000)


def _image_path(image_id: str, width: int, height: int, seed: int) -> str:
    return f"/images/{image_id}.jpg?w={width}&h={height}&seed={seed}"


def _materialize(templates: tuple[dict[str, Any], ...], base_url: str) -> list[dict[str, Any]]:
    items = []
    for template in templates:
        item = dict(template)
        for key in ("imageUrl", "hostPageUrl"):
            if item[key].startswith("/"):
                item[key] = base_url + item[key]
        items.append(item)
    return items


# --- excludeSites and damage -------------------------------------------------------------


def _exclude_sites(body: dict[str, Any]) -> list[str]:
    raw = body.get("advancedParams", {}).get("excludeSites", "")
    sites = []
    for site in raw.split(","):
        site = site.strip().lower()
        host = urlsplit(site).hostname if "://" in site else site.split("/")[0]
        if host:
            sites.append(host)
    return sites


def _without_sites(items: list[dict[str, Any]], sites: list[str]) -> list[dict[str, Any]]:
    if not sites:
        return items
    return [item for item in items if not _host_matches(item["hostPageUrl"], sites)]


def _host_matches(url: str, sites: list[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == site or host.endswith("." + site) for site in sites)


def _damage(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``partial_items`` fault: 7 kinds of damage, 2 of them fatal to an item.

    0 no imageUrl (drop), 1 width as a string, 2 an unreadable publishedTime,
    3 a null title, 4 a non-http imageUrl (drop), 5 no height, 6 a padded title.
    """
    damaged = [dict(item) for item in items]
    damages = [
        lambda item: item.pop("imageUrl"),
        lambda item: item.update(width=str(item["width"])),
        lambda item: item.update(publishedTime="sometime last spring"),
        lambda item: item.update(title=None),
        lambda item: item.update(imageUrl="javascript:alert(1)"),
        lambda item: item.pop("height"),
        lambda item: item.update(title=f"  \n {item['title']}\t "),
    ]
    for item, damage in zip(damaged, damages, strict=False):
        damage(item)
    return damaged


ROUTES: list[Route] = [route("POST", r"/search/multimodal", handle_search)]
