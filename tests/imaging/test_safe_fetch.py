"""fetch_url: address checks without a network, then a real local HTTP(S) server.

The local server listens on 127.0.0.1, which fetch_url refuses unless the
allowlist opens it: that is exactly how the emulator and these tests reach it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from tests.fixtures.services import skip_or_fail
from webapp.imaging.safe_fetch import (
    BadStatus,
    FetchError,
    FetchTimeout,
    TooLarge,
    TooManyRedirects,
    UnsafeURL,
    fetch_url,
    is_public_address,
    make_fetch_client,
)

PAYLOAD = b"\xff\xd8\xff" + b"pretend-jpeg" * 100
PUBLIC_IP = "93.184.216.34"
PRIVATE_ADDRESSES = [
    "127.0.0.1",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.1.1",
    "169.254.169.254",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "0.0.0.0",  # noqa: S104 (a refused destination, not a bind)
    "::",
    "100.64.0.1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
]


# --- a local server that misbehaves on request ------------------------------


@dataclass
class LocalServer:
    port: int
    stop: threading.Event
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    scheme: str = "http"
    sni: list[str | None] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    @property
    def allowlist(self) -> frozenset[tuple[str, int]]:
        return frozenset({("127.0.0.1", self.port)})


class Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer
    # HTTP/1.0: a response without Content-Length ends when the server closes.

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def local(self) -> LocalServer:
        return self.server.local  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self.local.seen.append((self.path, self.headers.get("Host", "")))
        route, _, argument = self.path.lstrip("/").partition("/")
        handler = getattr(self, f"route_{route.replace('-', '_')}", None)
        if handler is None:
            self.send_error(404)
            return
        # A client that gives up mid-response is what several tests want.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler(unquote(argument))

    def reply(self, body: bytes, *, status: int = 200, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", headers.pop("content_type", "image/jpeg"))
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def route_image(self, _: str) -> None:
        self.reply(PAYLOAD)

    def route_echo_host(self, _: str) -> None:
        self.reply(self.headers.get("Host", "").encode(), content_type="text/plain")

    def route_echo_cookie(self, _: str) -> None:
        self.reply(self.headers.get("Cookie", "").encode(), content_type="text/plain")

    def route_set_cookie(self, _: str) -> None:
        self.reply(PAYLOAD, Set_Cookie="session=secret; Path=/")

    def route_redirect(self, hops: str) -> None:
        remaining = int(hops)
        if remaining == 0:
            self.reply(PAYLOAD)
        else:
            self.reply(b"", status=302, Location=f"/redirect/{remaining - 1}")

    def route_redirect_to(self, location: str) -> None:
        self.reply(b"", status=302, Location=location)

    def route_bytes(self, size: str) -> None:
        self.reply(b"x" * int(size))

    def route_stream(self, size: str) -> None:
        self.send_response(200)
        self.end_headers()
        for start in range(0, int(size), 8192):
            self.wfile.write(b"x" * min(8192, int(size) - start))

    def route_gzip(self, _: str) -> None:
        self.reply(PAYLOAD, Content_Encoding="gzip")

    def route_lying_length(self, _: str) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(10**9))
        self.end_headers()
        self.wfile.write(b"x" * 10)
        self.wfile.flush()
        self.local.stop.wait(10)

    def route_trickle_body(self, _: str) -> None:
        self.send_response(200)
        self.end_headers()
        self.trickle(b"x" * 400, gap=0.05)

    def route_trickle_headers(self, _: str) -> None:
        self.wfile.write(b"HTTP/1.0 200 OK\r\n")
        self.trickle(b"X-Slow: " + b"a" * 400, gap=0.05)

    def route_stall(self, _: str) -> None:
        # Bytes for 0.9 s, then silence: only an overall deadline stops here.
        self.send_response(200)
        self.end_headers()
        self.trickle(b"x" * 9, gap=0.1)
        self.local.stop.wait(10)

    def trickle(self, data: bytes, *, gap: float) -> None:
        for byte in data:
            if self.local.stop.wait(gap):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def route_status(self, code: str) -> None:
        self.reply(b"nope", status=int(code), content_type="text/plain")


def serve(wrap: Callable[[ThreadingHTTPServer], None] | None = None) -> Iterator[LocalServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    local = LocalServer(port=httpd.server_address[1], stop=threading.Event())
    httpd.local = local  # type: ignore[attr-defined]
    if wrap is not None:
        wrap(httpd)
        local.scheme = "https"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield local
    finally:
        local.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    yield from serve()


def resolver_for(mapping: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in mapping:
            raise socket.gaierror(f"unknown test host {host}")
        return mapping[host]

    return resolve


class RecordingTransport(httpx.BaseTransport):
    """Stands in for the network: records what would have been sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(
            200, headers={"Content-Type": "image/png"}, stream=httpx.ByteStream(PAYLOAD)
        )


@pytest.fixture
def recorder() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def offline_client(recorder: RecordingTransport) -> Iterator[httpx.Client]:
    with httpx.Client(transport=recorder) as client:
        yield client


# --- address checks (no network) --------------------------------------------


@pytest.mark.parametrize("address", PRIVATE_ADDRESSES)
def test_it_refuses_each_private_address_class_as_a_literal(
    address: str, offline_client: httpx.Client, recorder: RecordingTransport
) -> None:
    host = f"[{address}]" if ":" in address else address

    with pytest.raises(UnsafeURL) as caught:
        fetch_url(f"http://{host}/a.jpg", max_bytes=10_000, timeout=5, client=offline_client)

    assert caught.value.code == "unsafe_url"
    assert "private network address" in caught.value.message
    assert recorder.requests == []


@pytest.mark.parametrize("address", PRIVATE_ADDRESSES)
def test_it_refuses_a_name_that_resolves_to_a_private_address(
    address: str, offline_client: httpx.Client, recorder: RecordingTransport
) -> None:
    resolver = resolver_for({"images.example": [address]})

    with pytest.raises(UnsafeURL):
        fetch_url(
            "https://images.example/a.jpg",
            max_bytes=10_000,
            timeout=5,
            client=offline_client,
            resolver=resolver,
        )

    assert recorder.requests == []


def test_it_refuses_a_name_when_any_of_its_addresses_is_private(
    offline_client: httpx.Client, recorder: RecordingTransport
) -> None:
    resolver = resolver_for({"images.example": [PUBLIC_IP, "10.0.0.7"]})

    with pytest.raises(UnsafeURL):
        fetch_url(
            "http://images.example/a.jpg",
            max_bytes=10_000,
            timeout=5,
            client=offline_client,
            resolver=resolver,
        )

    assert recorder.requests == []


def test_it_sends_a_public_name_to_the_checked_address_with_the_name_as_host(
    offline_client: httpx.Client, recorder: RecordingTransport
) -> None:
    resolver = resolver_for({"images.example": [PUBLIC_IP]})

    result = fetch_url(
        "http://images.example/cat.jpg?size=big",
        max_bytes=10_000,
        timeout=5,
        client=offline_client,
        resolver=resolver,
    )

    assert (result.status, result.content, result.content_type) == (200, PAYLOAD, "image/png")
    assert result.url == "http://images.example/cat.jpg?size=big"
    (sent,) = recorder.requests
    assert sent.url == httpx.URL(f"http://{PUBLIC_IP}/cat.jpg?size=big")
    assert sent.headers["Host"] == "images.example"


def test_https_carries_the_name_for_tls_while_dialling_the_address(
    offline_client: httpx.Client, recorder: RecordingTransport
) -> None:
    resolver = resolver_for({"images.example": ["2606:4700::1"]})

    fetch_url(
        "https://images.example:8443/cat.jpg",
        max_bytes=10_000,
        timeout=5,
        client=offline_client,
        resolver=resolver,
    )

    (sent,) = recorder.requests
    assert sent.url == httpx.URL("https://[2606:4700::1]:8443/cat.jpg")
    assert sent.headers["Host"] == "images.example:8443"
    assert sent.extensions["sni_hostname"] == "images.example"


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1", "2a00:1450:4001:82b::200e"]
)
def test_public_addresses_pass_the_check(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://images.example/cat.jpg",
        "gopher://images.example:70/_GET",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "images.example/cat.jpg",
    ],
)
def test_it_refuses_anything_but_http_and_https(
    url: str, offline_client: httpx.Client, recorder: RecordingTransport
) -> None:
    with pytest.raises(UnsafeURL):
        fetch_url(url, max_bytes=10_000, timeout=5, client=offline_client)

    assert recorder.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://user:secret@images.example/cat.jpg",
        "http://user@images.example/cat.jpg",
        f"http://images.example@{PUBLIC_IP}/cat.jpg",
    ],
)
def test_it_refuses_a_user_name_or_password_in_the_url(
    url: str, offline_client: httpx.Client, recorder: RecordingTransport
) -> None:
    with pytest.raises(UnsafeURL, match="user name or password"):
        fetch_url(url, max_bytes=10_000, timeout=5, client=offline_client)

    assert recorder.requests == []


@pytest.mark.parametrize("url", ["http:///cat.jpg", "https://:443/cat.jpg", "http://[::1/"])
def test_it_refuses_an_empty_or_broken_host(url: str, offline_client: httpx.Client) -> None:
    with pytest.raises(UnsafeURL):
        fetch_url(url, max_bytes=10_000, timeout=5, client=offline_client)


def test_it_reports_a_name_that_does_not_resolve(offline_client: httpx.Client) -> None:
    with pytest.raises(FetchError) as caught:
        fetch_url(
            "http://nowhere.example/cat.jpg",
            max_bytes=10_000,
            timeout=5,
            client=offline_client,
            resolver=resolver_for({}),
        )

    assert caught.value.code == "network"


def test_a_hanging_dns_lookup_ends_at_the_deadline(offline_client: httpx.Client) -> None:
    def hanging(host: str, port: int) -> list[str]:
        time.sleep(3)
        return [PUBLIC_IP]

    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        fetch_url(
            "http://slow-dns.example/",
            max_bytes=10_000,
            timeout=0.3,
            client=offline_client,
            resolver=hanging,
        )

    assert time.monotonic() - started < 2


# --- a real server ----------------------------------------------------------


def test_it_fetches_from_an_allowlisted_local_server(server: LocalServer) -> None:
    result = fetch_url(
        server.url("/image"), max_bytes=10_000, timeout=5, allowlist=server.allowlist
    )

    assert (result.status, result.content_type, result.content) == (200, "image/jpeg", PAYLOAD)
    assert result.url == server.url("/image")


def test_it_refuses_the_local_server_without_the_allowlist(server: LocalServer) -> None:
    before = len(server.seen)

    with pytest.raises(UnsafeURL):
        fetch_url(server.url("/image"), max_bytes=10_000, timeout=5)

    assert len(server.seen) == before


def test_the_allowlist_opens_only_the_listed_port(server: LocalServer) -> None:
    with pytest.raises(UnsafeURL):
        fetch_url(
            server.url("/image"),
            max_bytes=10_000,
            timeout=5,
            allowlist=frozenset({("127.0.0.1", server.port + 1)}),
        )


def test_it_connects_to_the_checked_address_and_sends_the_name_as_host(
    server: LocalServer,
) -> None:
    lookups: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append((host, port))
        return ["127.0.0.1"]

    # "images.test" exists in no DNS: success proves httpx dialled our address.
    result = fetch_url(
        server.url("/echo-host", host="images.test"),
        max_bytes=10_000,
        timeout=5,
        allowlist=frozenset({("images.test", server.port)}),
        resolver=resolver,
    )

    assert result.content == f"images.test:{server.port}".encode()
    assert lookups == [("images.test", server.port)]


def test_an_allowlisted_address_opens_a_name_that_resolves_to_it(server: LocalServer) -> None:
    result = fetch_url(
        server.url("/image", host="images.test"),
        max_bytes=10_000,
        timeout=5,
        allowlist=server.allowlist,
        resolver=resolver_for({"images.test": ["127.0.0.1"]}),
    )

    assert result.content == PAYLOAD


def test_an_allowlisted_name_does_not_open_another_name(server: LocalServer) -> None:
    with pytest.raises(UnsafeURL):
        fetch_url(
            server.url("/image", host="other.test"),
            max_bytes=10_000,
            timeout=5,
            allowlist=frozenset({("images.test", server.port)}),
            resolver=resolver_for({"other.test": ["127.0.0.1"]}),
        )


def test_the_shared_client_refuses_to_resolve_names_itself(server: LocalServer) -> None:
    with make_fetch_client() as client, pytest.raises(httpx.ConnectError, match="resolve"):
        client.get(server.url("/image", host="localhost"))


def test_it_follows_three_redirects_and_refuses_a_fourth(server: LocalServer) -> None:
    result = fetch_url(
        server.url("/redirect/3"), max_bytes=10_000, timeout=5, allowlist=server.allowlist
    )
    assert (result.content, result.url) == (PAYLOAD, server.url("/redirect/0"))

    with pytest.raises(TooManyRedirects) as caught:
        fetch_url(
            server.url("/redirect/4"), max_bytes=10_000, timeout=5, allowlist=server.allowlist
        )
    assert caught.value.code == "too_many_redirects"


def test_a_relative_redirect_keeps_the_original_name(server: LocalServer) -> None:
    result = fetch_url(
        server.url("/redirect-to/%2Fecho-host", host="images.test"),
        max_bytes=10_000,
        timeout=5,
        allowlist=frozenset({("images.test", server.port)}),
        resolver=resolver_for({"images.test": ["127.0.0.1"]}),
    )

    assert result.content == f"images.test:{server.port}".encode()


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.1/cat.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:1/cat.jpg",  # same loopback host, a port nobody allowed
        "http://[::1]/cat.jpg",
        "http://internal.test/cat.jpg",  # a name that resolves privately
        "file:///etc/passwd",
    ],
)
def test_it_refuses_a_redirect_into_a_private_address(server: LocalServer, location: str) -> None:
    quoted = location.replace("/", "%2F")
    before = len(server.seen)

    with pytest.raises(UnsafeURL):
        fetch_url(
            server.url(f"/redirect-to/{quoted}"),
            max_bytes=10_000,
            timeout=5,
            allowlist=server.allowlist,
            resolver=resolver_for({"internal.test": ["192.168.0.10"]}),
        )

    assert len(server.seen) == before + 1  # only the first hop reached a server


def test_it_enforces_the_byte_cap_from_content_length(server: LocalServer) -> None:
    ok = fetch_url(server.url("/bytes/5000"), max_bytes=5000, timeout=5, allowlist=server.allowlist)
    assert len(ok.content) == 5000

    with pytest.raises(TooLarge) as caught:
        fetch_url(server.url("/bytes/5001"), max_bytes=5000, timeout=5, allowlist=server.allowlist)
    assert caught.value.code == "too_large"


def test_it_refuses_a_huge_content_length_before_reading_the_body(server: LocalServer) -> None:
    # The body never arrives: only the header can end this before the timeout.
    with pytest.raises(TooLarge):
        fetch_url(
            server.url("/lying-length"), max_bytes=1000, timeout=3, allowlist=server.allowlist
        )


def test_it_enforces_the_byte_cap_without_content_length(server: LocalServer) -> None:
    ok = fetch_url(
        server.url("/stream/50000"), max_bytes=50_000, timeout=5, allowlist=server.allowlist
    )
    assert len(ok.content) == 50_000

    with pytest.raises(TooLarge):
        fetch_url(
            server.url("/stream/500000"), max_bytes=50_000, timeout=5, allowlist=server.allowlist
        )


@pytest.mark.parametrize("route", ["/trickle-body", "/trickle-headers", "/stall"])
def test_a_slow_server_cannot_stall_past_the_overall_deadline(
    server: LocalServer, route: str
) -> None:
    # Each gap (≤ 0.1 s) is far below the timeout, so per-read timeouts alone
    # would wait 20 s for a trickle, or twice the timeout for a stall.
    started = time.monotonic()

    with pytest.raises(FetchTimeout) as caught:
        fetch_url(server.url(route), max_bytes=100_000, timeout=1.2, allowlist=server.allowlist)

    assert time.monotonic() - started < 1.7
    assert caught.value.code == "timeout"


def test_it_reports_a_404_as_a_bad_status(server: LocalServer) -> None:
    with pytest.raises(BadStatus) as caught:
        fetch_url(
            server.url("/status/404"), max_bytes=10_000, timeout=5, allowlist=server.allowlist
        )

    assert (caught.value.code, caught.value.status) == ("http_status", 404)
    assert "404" in caught.value.message


def test_it_refuses_a_compressed_body_it_asked_not_to_get(server: LocalServer) -> None:
    with pytest.raises(FetchError) as caught:
        fetch_url(server.url("/gzip"), max_bytes=10_000, timeout=5, allowlist=server.allowlist)

    assert caught.value.code == "unsupported_encoding"


def test_the_shared_client_keeps_no_cookies(server: LocalServer) -> None:
    with make_fetch_client() as client:
        fetch = {"max_bytes": 10_000, "timeout": 5, "allowlist": server.allowlist}
        fetch_url(server.url("/set-cookie"), client=client, **fetch)  # type: ignore[arg-type]
        echoed = fetch_url(server.url("/echo-cookie"), client=client, **fetch)  # type: ignore[arg-type]

    assert echoed.content == b""


def test_the_shared_client_ignores_proxy_settings(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would make the connection on our behalf, to an address we never checked.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")

    with make_fetch_client() as client:
        result = fetch_url(
            server.url("/image"),
            max_bytes=10_000,
            timeout=5,
            allowlist=server.allowlist,
            client=client,
        )

    assert result.content == PAYLOAD


def test_one_client_serves_many_threads(server: LocalServer) -> None:
    results: list[bytes] = []
    with make_fetch_client() as client:
        threads = [
            threading.Thread(
                target=lambda: results.append(
                    fetch_url(
                        server.url("/image"),
                        max_bytes=10_000,
                        timeout=5,
                        allowlist=server.allowlist,
                        client=client,
                    ).content
                )
            )
            for _ in range(16)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert results == [PAYLOAD] * 16


# --- https: the certificate is checked against the name ---------------------


@dataclass(frozen=True)
class TestCA:
    __test__ = False  # not a test class, whatever its name says
    ca_file: Path
    cert_file: Path
    key_file: Path


def _each(flag: str, values: list[str]) -> list[str]:
    return [part for value in values for part in (flag, value)]


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    if shutil.which("openssl") is None:
        skip_or_fail("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_extensions = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Loupe test CA", *_each("-addext", ca_extensions))  # fmt: skip
    openssl("req", *key, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=images.test")
    (folder / "leaf.ext").write_text("subjectAltName=DNS:images.test\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "2",
            "-extfile", "leaf.ext")  # fmt: skip
    return TestCA(folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key")


@pytest.fixture(scope="module")
def tls_server(test_ca: TestCA) -> Iterator[LocalServer]:
    sni: list[str | None] = []

    def wrap(httpd: ThreadingHTTPServer) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(test_ca.cert_file, test_ca.key_file)

        def remember_sni(_sock: object, name: str | None, _ctx: object) -> None:
            sni.append(name)

        context.sni_callback = remember_sni
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)

    for local in serve(wrap):
        local.sni = sni
        yield local


@pytest.fixture
def tls_client(test_ca: TestCA) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(test_ca.ca_file))
    with make_fetch_client(ssl_context=context) as client:
        yield client


def test_https_verifies_the_certificate_against_the_name(
    tls_server: LocalServer, tls_client: httpx.Client
) -> None:
    # The certificate names images.test and no IP: it verifies only if the
    # handshake used the name although the socket went to 127.0.0.1.
    result = fetch_url(
        tls_server.url("/echo-host", host="images.test"),
        max_bytes=10_000,
        timeout=5,
        allowlist=tls_server.allowlist,
        resolver=resolver_for({"images.test": ["127.0.0.1"]}),
        client=tls_client,
    )

    assert result.content == f"images.test:{tls_server.port}".encode()
    assert tls_server.sni[-1] == "images.test"


def test_https_refuses_a_certificate_for_another_name(
    tls_server: LocalServer, tls_client: httpx.Client
) -> None:
    with pytest.raises(FetchError) as caught:
        fetch_url(
            tls_server.url("/image", host="other.test"),
            max_bytes=10_000,
            timeout=5,
            allowlist=tls_server.allowlist,
            resolver=resolver_for({"other.test": ["127.0.0.1"]}),
            client=tls_client,
        )

    assert caught.value.code == "network"
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert "certificate" in str(caught.value.__cause__).lower()
