"""The emulator's HTTP server: sockets, routing, the request log and fault control.

One module per emulated API (iqs.py, images.py, pages.py) contributes
``ROUTES`` and ``FAULTS``; adding an API means adding a module and listing it
in ``API_MODULES``. Runs in a daemon thread for tests (``start_emulator``) or
in the foreground (``python -m webapp.emulator``).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qsl, urlsplit

from webapp.emulator import (
    dashscope_embedding,
    images,
    iqs,
    library,
    opensearch_embedding,
    pages,
    responses,
)
from webapp.emulator.core import (
    EmulatorState,
    RecordedRequest,
    Request,
    Response,
    Route,
    Timing,
    json_response,
    route,
)

MAX_BODY_BYTES = 1024 * 1024
TRICKLE_CHUNK = 32
CONTROL_PREFIX = "/_emulator/"
_HOST_HEADER = re.compile(r"^(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")

# Which fault names each API accepts (the key is the "api" of a fault request).
API_MODULES: dict[str, ModuleType] = {
    "iqs": iqs,
    "images": images,
    "pages": pages,
    "responses": responses,
    "library": library,
    "opensearch_embedding": opensearch_embedding,
    "dashscope_embedding": dashscope_embedding,
}


# --- fault control and index ---------------------------------------------------------------


def handle_set_fault(request: Request) -> Response:
    try:
        spec = json.loads(request.body)
        request.state.faults.set(
            spec["fault"],
            spec.get("count"),
            delay=spec.get("delay"),
            api=spec.get("api", "iqs"),
            n=spec.get("n"),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return json_response(400, {"error": f"bad fault request: {exc}"})
    return json_response(200, {"faults": request.state.faults.describe()})


def handle_clear_faults(request: Request) -> Response:
    request.state.faults.clear()
    return json_response(200, {"faults": {}})


def handle_list_faults(request: Request) -> Response:
    known = {api: sorted(module.FAULTS) for api, module in API_MODULES.items() if module.FAULTS}
    return json_response(200, {"faults": request.state.faults.describe(), "known": known})


# --- timing control -------------------------------------------------------------------------


def handle_get_timing(request: Request) -> Response:
    return json_response(200, {"timing": request.state.timing.describe()})


def handle_set_timing(request: Request) -> Response:
    """Change the latency while serving: ``{"iqs_latency": 1, "stream_seconds": 15}``.

    A field left out keeps its current value, so a bench can change one alone.
    """
    try:
        spec = json.loads(request.body)
        if not isinstance(spec, dict) or not set(spec) <= {"iqs_latency", "stream_seconds"}:
            raise ValueError("give iqs_latency and/or stream_seconds, in seconds")
        timing = Timing(**{**request.state.timing.describe(), **spec})
    except (ValueError, TypeError) as exc:
        return json_response(400, {"error": f"bad timing request: {exc}"})
    request.state.timing = timing
    return json_response(200, {"timing": timing.describe()})


def handle_reset_timing(request: Request) -> Response:
    """Back to what the emulator was started with (--iqs-latency, --stream-seconds)."""
    request.state.timing = request.state.default_timing
    return json_response(200, {"timing": request.state.timing.describe()})


def handle_index(request: Request) -> Response:
    lines = [
        "Loupe emulator: stands in for the providers' APIs, offline.",
        "POST /search/multimodal        IQS MultimodalSearch (try 'lion', '狮子', anything)",
        "GET  /images/<id>.jpg?w=&h=    generated pictures (broken, truncated, missing)",
        "POST /compatible-mode/v1/responses  Qwen Responses API, image_search tool (streams)",
        "GET|POST|DELETE /_emulator/faults   fault injection: {'fault': name, 'count': n}",
        "GET|POST|DELETE /_emulator/timing   the services' latency: {'iqs_latency': 1, "
        "'stream_seconds': 15} (seconds, ±10%; 0 = at once; DELETE = as started)",
        "Query prefix for demos: 'emulate:<fault> lion'. IQS faults: "
        + ", ".join(sorted(iqs.FAULTS)),
        "Image search: {'api': 'responses', 'fault': name, 'n': events} or the text prefix "
        "'emulate:cut_after:3 ...'. Faults: " + ", ".join(sorted(responses.FAULTS)),
        "GET  /library/<id>.jpg, /library/<id>  the local library's pictures and pages, when "
        "started with --library-manifest (GET /_emulator/library describes it); IQS and image "
        "search then answer from the library",
        "POST /v3/openapi/workspaces/<ws>/multi-modal-embedding/<service_id>  OpenSearch "
        "multi-modal embedding; POST /api/v1/services/embeddings/multimodal-embedding/"
        "multimodal-embedding  DashScope multimodal-embedding-v1 (faults: api "
        "'opensearch_embedding' / 'dashscope_embedding')",
    ]
    return Response(body="\n".join(lines).encode("utf-8"), content_type="text/plain; charset=utf-8")


CONTROL_ROUTES: list[Route] = [
    route("GET", r"/", handle_index),
    route("GET", r"/_emulator/faults", handle_list_faults),
    route("POST", r"/_emulator/faults", handle_set_fault),
    route("DELETE", r"/_emulator/faults", handle_clear_faults),
    route("GET", r"/_emulator/timing", handle_get_timing),
    route("POST", r"/_emulator/timing", handle_set_timing),
    route("DELETE", r"/_emulator/timing", handle_reset_timing),
]
ROUTES: list[Route] = CONTROL_ROUTES + [r for m in API_MODULES.values() for r in m.ROUTES]


# --- the socket side ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a "slow" answer must never keep the process alive
    # The listen backlog. With realistic timing each request holds its thread for
    # 1 to 15 s, so a load test opens hundreds of connections at once; the default
    # of 5 would make the kernel drop SYNs and clients see 1 s+ connect retries.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], state: EmulatorState) -> None:
        super().__init__(address, _Handler)
        self.state = state


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real gateway
    server_version = "LoupeEmulator/1"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out in two writes
    timeout = 60  # idle keep-alive connections do not hold a thread for ever
    server: _Server

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: object) -> None:
        if self.server.state.verbose:
            super().log_message(format, *args)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        headers = dict(self.headers.items())
        body = self._read_body(parts.path)
        if body is None:
            self.close_connection = True
            self._send(json_response(413, {"error": "request body too large"}), method)
            return
        if not parts.path.startswith(CONTROL_PREFIX):
            # The log keeps at most MAX_BODY_BYTES a request: image searches carry megabytes.
            logged = body[:MAX_BODY_BYTES]
            self.server.state.record(
                RecordedRequest(
                    method, parts.path, parts.query, headers, logged, _json_or_none(logged)
                )
            )
        self._send(self._answer(method, parts.path, parts.query, headers, body), method)

    def _answer(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        wanted = "GET" if method == "HEAD" else method
        path_matched = False
        for candidate in ROUTES:
            match = candidate.pattern.fullmatch(path)
            if match is None:
                continue
            path_matched = True
            if candidate.method == wanted:
                request = Request(
                    method, path, dict(parse_qsl(query)), headers, body,
                    self._base_url(), self.server.state, match,
                )  # fmt: skip
                return self._run(candidate, request)
        if path_matched:
            return json_response(405, {"error": f"{method} is not allowed on {path}"})
        return json_response(404, {"error": f"nothing emulated at {path}"})

    def _run(self, candidate: Route, request: Request) -> Response:
        try:
            return candidate.handler(request)
        except Exception:  # a bug in an emulated API must answer 500, not kill the thread
            traceback.print_exc(file=sys.stderr)
            return Response(status=500, body=b"emulator error", content_type="text/plain")

    def _read_body(self, path: str) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _body_limit(path):
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _base_url(self) -> str:
        """Where the client reached us, so the URLs we hand out work for it."""
        host = self.headers.get("Host", "").strip()
        if not _HOST_HEADER.fullmatch(host):
            bound_host, port = self.server.server_address[:2]
            host = f"{_reachable(str(bound_host))}:{port}"
        return f"http://{host}"

    def _send(self, response: Response, method: str) -> None:
        if response.disconnect:
            self.close_connection = True  # the socket closes with nothing sent
            return
        if response.stream is not None:
            self._send_stream(response, method)
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method == "HEAD":
            return
        if response.trickle:
            self._trickle(response)
        else:
            self.wfile.write(response.body)

    def _send_stream(self, response: Response, method: str) -> None:
        """Chunked transfer, one chunk per piece, written the moment the piece is made."""
        assert response.stream is not None
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        pieces = iter(response.stream)
        try:
            if method != "HEAD":
                for piece in pieces:
                    if piece:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if not response.cut_stream:
                self.wfile.write(b"0\r\n\r\n")
                return
        except OSError:  # the client went away; nothing more to say to it
            pass
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # a generator that was cut short stops now, not at garbage collection
        self.close_connection = True  # a cut stream, or a broken socket

    def _trickle(self, response: Response) -> None:
        """Send the body a few bytes at a time: no single read is slow, the whole is."""
        stopping = self.server.state.stopping
        try:
            for start in range(0, len(response.body), TRICKLE_CHUNK):
                self.wfile.write(response.body[start : start + TRICKLE_CHUNK])
                if stopping.wait(response.trickle):
                    break
        except OSError:  # the client gave up, which is the point
            pass
        self.close_connection = True


def _json_or_none(body: bytes) -> object:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _body_limit(path: str) -> int:
    """An API module may take larger bodies (image search: a base64 image) by naming a limit."""
    for module in API_MODULES.values():
        limit = getattr(module, "MAX_BODY_BYTES", None)
        if isinstance(limit, int) and any(r.pattern.fullmatch(path) for r in module.ROUTES):
            return limit
    return MAX_BODY_BYTES


def _reachable(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 (a listen-all address)


# --- the handle tests and __main__ use -------------------------------------------------------


class EmulatorHandle:
    """A running emulator: where it listens, its faults and what it received."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.host = _reachable(str(server.server_address[0]))
        self.port = int(server.server_address[1])
        self.url = f"http://{self.host}:{self.port}"

    @property
    def state(self) -> EmulatorState:
        return self._server.state

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests()

    def set_fault(
        self,
        name: str,
        count: int | None = None,
        *,
        delay: float | None = None,
        api: str = "iqs",
        n: int | None = None,
    ) -> None:
        self.state.faults.set(name, count, delay=delay, api=api, n=n)

    def set_pacing(self, scale: float) -> None:
        """Scale the pauses between streamed events: 0 for none, 1 for a person's eyes."""
        if not 0 <= scale <= 100:
            raise ValueError("pacing must be between 0 and 100")
        self.state.pacing = scale

    def set_timing(
        self, *, iqs_latency: float | None = None, stream_seconds: float | None = None
    ) -> None:
        """Make the services as slow as the real ones (see core.Timing); None keeps a value."""
        current = self.state.timing
        self.state.timing = Timing(
            iqs_latency=current.iqs_latency if iqs_latency is None else iqs_latency,
            stream_seconds=current.stream_seconds if stream_seconds is None else stream_seconds,
        )

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def clear_requests(self) -> None:
        self.state.clear_requests()

    def reset(self) -> None:
        self.clear_faults()
        self.clear_requests()
        self.state.pacing = self.state.default_pacing
        self.state.timing = self.state.default_timing

    def wait(self) -> None:
        """Block until stopped (the foreground mode)."""
        while self._thread.is_alive():
            self._thread.join(0.5)  # short joins keep Ctrl-C responsive

    def stop(self) -> None:
        self.state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def start_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    verbose: bool = False,
    pacing: float = 1.0,
    timing: Timing | None = None,
    library_manifest: str | Path | None = None,
) -> EmulatorHandle:
    """Start serving in a daemon thread; port 0 picks a free port.

    ``pacing`` scales the pauses between streamed events (see EmulatorState).
    ``timing``: the real services' latency (core.Timing); by default none.
    ``library_manifest``: answer IQS and image_search from the local library it
    lists (library.py); raises library.ManifestError, before listening, when
    the file is unusable.
    """
    known = {api: module.FAULTS for api, module in API_MODULES.items()}
    state = EmulatorState(known, verbose=verbose, pacing=pacing, timing=timing)
    if library_manifest is not None:
        state.library = library.LibrarySource(Path(library_manifest))
    server = _Server((host, port), state)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name="loupe-emulator",
        daemon=True,
    )
    thread.start()
    return EmulatorHandle(server, thread)
