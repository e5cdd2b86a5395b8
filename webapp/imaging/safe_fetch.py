"""Fetch a URL that came from outside without letting it reach inside.

The rules come from design.md ("Safety rules"): http(s) only, every resolved
address must be public unless the allowlist says otherwise, at most a few
redirects each checked again, a byte cap and one overall deadline.

Two invariants make the check mean something:

* The request goes to the IP address that was checked, never to a name that
  httpx would resolve again (no DNS-rebinding window). The URL sent on the wire
  carries the IP; the Host header and the TLS SNI carry the name, so virtual
  hosting and certificate verification still work with the name.
* Every socket operation of a client made by `make_fetch_client` is bounded by
  the deadline of the fetch running on that thread, so a server that trickles
  headers or body bytes cannot stall a worker past `timeout`.

No Django here: the caller passes settings (allowlist, caps) as arguments.
"""

from __future__ import annotations

import contextvars
import functools
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore
import httpx

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HEADERS = {
    "User-Agent": "Loupe-image-fetcher/1.0",
    "Accept": "image/*",
    # Asking for identity keeps the byte cap honest: a gzip body could inflate
    # a thousandfold inside one chunk, before any counting could stop it.
    "Accept-Encoding": "identity",
}
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")

# The wall-clock deadline (time.monotonic) of the fetch running in this
# thread. Read by the socket wrappers below; set only by fetch_url.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "safe_fetch_deadline", default=None
)


@dataclass(frozen=True)
class FetchResult:
    url: str  # the final URL after redirects, with the host name (not the IP)
    status: int
    content_type: str
    content: bytes


class FetchError(Exception):
    """A fetch that failed; `message` is a sentence a person can read."""

    code: str = "network"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class UnsafeURL(FetchError):
    code = "unsafe_url"


class TooLarge(FetchError):
    code = "too_large"


class FetchTimeout(FetchError):
    code = "timeout"


class BadStatus(FetchError):
    code = "http_status"

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class TooManyRedirects(FetchError):
    code = "too_many_redirects"


# --- address policy ---------------------------------------------------------


def is_public_address(address: str) -> bool:
    """True when `address` is a unicast address on the public internet."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return all(_is_public(candidate) for candidate in _with_embedded_ipv4(ip))


def _is_public(ip: IPAddress) -> bool:
    # ipaddress's is_global misses multicast and (in 3.11) a few reserved
    # ranges, so the classes design.md names are spelled out as well.
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in _SHARED_ADDRESS_SPACE
    )


def _with_embedded_ipv4(ip: IPAddress) -> list[IPAddress]:
    """The address plus any IPv4 address it tunnels to (mapped, 6to4, Teredo, NAT64)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    found: list[IPAddress] = [ip]
    for embedded in (ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None):
        if embedded is not None:
            found.append(embedded)
    if ip in _NAT64_PREFIX:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _normalise_host(host: str) -> str:
    host = host.strip().strip("[]").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _normalise_allowlist(allowlist: Iterable[tuple[str, int]]) -> frozenset[tuple[str, int]]:
    return frozenset((_normalise_host(host), int(port)) for host, port in allowlist)


def _check_addresses(
    host: str, port: int, addresses: list[str], allowlist: frozenset[tuple[str, int]]
) -> None:
    if (host, port) in allowlist:
        return
    for address in addresses:
        if (address, port) not in allowlist and not is_public_address(address):
            raise UnsafeURL(
                "The image address points at a private network address, "
                "which Loupe refuses to fetch."
            )


# --- URL handling -----------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    host: str  # ASCII (IDNA) lower-case host name or canonical IP text
    port: int  # effective port: 80/443 when the URL names none


def _parse(raw: str | httpx.URL) -> _Target:
    try:
        url = raw if isinstance(raw, httpx.URL) else httpx.URL(raw)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeURL("The image address is not a valid web address.") from exc
    if url.scheme not in _DEFAULT_PORTS:
        raise UnsafeURL("The image address is not an http or https address.")
    if url.userinfo:
        raise UnsafeURL("The image address contains a user name or password, which Loupe refuses.")
    host = _normalise_host(url.raw_host.decode("ascii"))
    if not host:
        raise UnsafeURL("The image address has no host name.")
    return _Target(url=url, host=host, port=url.port or _DEFAULT_PORTS[url.scheme])


def _redirect_target(current: _Target, location: str) -> _Target:
    # Join against the URL with the host name, not the IP we connected to, so
    # relative redirects keep the name (and so its Host header and SNI).
    try:
        joined = current.url.join(location)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeURL("The image server redirected to an invalid address.") from exc
    return _parse(joined)


# --- DNS --------------------------------------------------------------------


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _resolve(target: _Target, resolver: Resolver, deadline: float) -> list[str]:
    try:
        return [str(ipaddress.ip_address(target.host))]
    except ValueError:
        pass
    addresses = _call_before(deadline, resolver, target.host, target.port)
    normalised = [_normalise_host(address) for address in addresses]
    if not normalised:
        raise FetchError("Loupe could not find the image server's address.")
    return normalised


def _call_before(deadline: float, resolver: Resolver, host: str, port: int) -> list[str]:
    """Run the resolver but give up at the deadline.

    getaddrinfo has no timeout of its own (the resolver's retries can take
    tens of seconds), so it runs in a daemon thread that is abandoned if late.
    """
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(resolver(host, port))
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append(exc)

    worker = threading.Thread(target=run, name="safe-fetch-dns", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if not outcome:
        raise FetchTimeout("Looking up the image server's address took too long.")
    result = outcome[0]
    if isinstance(result, OSError):
        raise FetchError("Loupe could not find the image server's address.") from result
    if isinstance(result, BaseException):
        raise result
    return list(result)


# --- the deadline-bounded transport -----------------------------------------


def _bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    """The smaller of httpcore's own timeout and what is left of the fetch's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        # A zero socket timeout means "non-blocking" and would surface as a
        # plain network error, so the timeout is raised here instead.
        raise expired("the fetch deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wrapped = self._inner.start_tls(
            ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(wrapped)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects only to IP literals (so httpx never resolves a name) within the deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            ipaddress.ip_address(host)
        except ValueError as exc:
            raise httpcore.ConnectError(f"refusing to resolve {host!r} inside httpx") from exc
        stream = self._inner.connect_tcp(
            host,
            port,
            _bounded(timeout, httpcore.ConnectTimeout),
            local_address,
            socket_options,
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs milliseconds; fetch_url without a client
    # would otherwise pay it on every call.
    return httpx.create_ssl_context(trust_env=False)


class _PinnedTransport(httpx.HTTPTransport):
    def __init__(self, ssl_context: ssl.SSLContext | None) -> None:
        context = ssl_context or _default_ssl_context()
        super().__init__(verify=context, retries=0)
        # httpx has no public hook for a network backend; its transport keeps
        # the httpcore pool in `_pool`, which is swapped for one that has ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=64,
            max_keepalive_connections=16,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_PinnedBackend(),
        )


def make_fetch_client(*, ssl_context: ssl.SSLContext | None = None) -> httpx.Client:
    """A client for fetch_url, safe to share across threads.

    `ssl_context` exists for tests that run their own certificate authority.
    """
    return httpx.Client(
        transport=_PinnedTransport(ssl_context),
        # Proxy variables would send the request somewhere we did not check.
        # (httpx already ignores them when given a transport; this says so.)
        trust_env=False,
        follow_redirects=False,
        # Requests go to IPs, so a shared cookie jar would hand one site's
        # cookies to every other site on the same address. Keep none.
        # (A bare CookieJar, because httpx.Cookies would be copied into a new
        # jar with the default, accepting policy.)
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


# --- fetching ---------------------------------------------------------------


def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allowlist: frozenset[tuple[str, int]] = frozenset(),
    max_redirects: int = 3,
    client: httpx.Client | None = None,
    resolver: Resolver | None = None,
) -> FetchResult:
    """GET `url` under the safety rules; raise a FetchError subclass on any refusal."""
    deadline = time.monotonic() + timeout
    http = client if client is not None else make_fetch_client()
    token = _DEADLINE.set(deadline)
    try:
        return _fetch(
            _parse(url),
            http=http,
            max_bytes=max_bytes,
            deadline=deadline,
            allowlist=_normalise_allowlist(allowlist),
            max_redirects=max_redirects,
            resolver=resolver or system_resolver,
        )
    except httpx.TimeoutException as exc:
        raise FetchTimeout("The image server took too long to answer.") from exc
    except httpx.TransportError as exc:
        raise FetchError("Loupe could not connect to the image server.") from exc
    finally:
        _DEADLINE.reset(token)
        if client is None:
            http.close()


def _fetch(
    target: _Target,
    *,
    http: httpx.Client,
    max_bytes: int,
    deadline: float,
    allowlist: frozenset[tuple[str, int]],
    max_redirects: int,
    resolver: Resolver,
) -> FetchResult:
    for hop in range(max_redirects + 1):
        response = _send(http, target, allowlist, resolver, deadline)
        try:
            location = response.headers.get("location")
            if response.status_code in REDIRECT_STATUSES and location:
                if hop == max_redirects:
                    raise TooManyRedirects("The image address redirected too many times.")
                target = _redirect_target(target, location)
                continue
            return _read(response, target, max_bytes, deadline)
        finally:
            response.close()
    raise AssertionError("unreachable: the loop returns or raises")


def _send(
    http: httpx.Client,
    target: _Target,
    allowlist: frozenset[tuple[str, int]],
    resolver: Resolver,
    deadline: float,
) -> httpx.Response:
    addresses = _resolve(target, resolver, deadline)
    _check_addresses(target.host, target.port, addresses, allowlist)
    failure: httpx.ConnectError | None = None
    for address in addresses:  # every one was checked; try the next if one is down
        try:
            return http.send(_request_to(http, target, address, deadline), stream=True)
        except httpx.ConnectError as exc:
            failure = exc
    assert failure is not None
    raise failure


def _request_to(
    http: httpx.Client, target: _Target, address: str, deadline: float
) -> httpx.Request:
    headers = {**_HEADERS, "Host": target.url.netloc.decode("ascii")}
    extensions: dict[str, Any] = {}
    if target.url.scheme == "https":
        # TLS verifies the certificate against the name, not the IP we dial.
        extensions["sni_hostname"] = target.host
        # The pool keys connections by IP, so a kept-alive TLS connection could
        # carry a request for another name the certificate never covered.
        headers["Connection"] = "close"
    remaining = max(0.001, deadline - time.monotonic())
    return http.build_request(
        "GET",
        target.url.copy_with(host=address),
        headers=headers,
        extensions=extensions,
        timeout=httpx.Timeout(remaining),
    )


def _read(
    response: httpx.Response, target: _Target, max_bytes: int, deadline: float
) -> FetchResult:
    status = response.status_code
    if not 200 <= status < 300:
        raise BadStatus(f"The image server answered with HTTP status {status}.", status=status)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError(
            "The image server sent a compressed answer, which Loupe does not unpack.",
            code="unsupported_encoding",
        )
    _refuse_declared_size(response, max_bytes)
    return FetchResult(
        url=str(target.url),
        status=status,
        content_type=response.headers.get("content-type", ""),
        content=_read_capped(response, max_bytes, deadline),
    )


def _refuse_declared_size(response: httpx.Response, max_bytes: int) -> None:
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(_too_large_message(max_bytes))


def _read_capped(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    received = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > max_bytes:
            raise TooLarge(_too_large_message(max_bytes))
        if time.monotonic() > deadline:
            raise FetchTimeout("The image server took too long to send the image.")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large_message(max_bytes: int) -> str:
    return f"The image is larger than {_human_size(max_bytes)}, which is Loupe's limit."


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    if size >= 1024:
        return f"{size / 1024:g} KB"
    return f"{size} bytes"
