"""The load test only ever targets this machine: a loopback URL, checked before any request.

``python -m loadtest.hosts URL`` exits 0 for a loopback http(s) URL where
something listens, 2 otherwise (scripts/loadtest.sh asks before starting).
Names other than "localhost" are refused rather than resolved: what a name
resolves to can change.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from urllib.parse import urlsplit


def is_loopback_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_listening(url: str) -> bool:
    """Something accepts connections there (a quick check, to fail with a clear message)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=3):
            return True
    except OSError:
        return False


def main(argv: list[str]) -> int:
    url = argv[0] if len(argv) == 1 else ""
    if not is_loopback_url(url):
        print(
            f"loadtest: refusing to run against a non-loopback host: {' '.join(argv)!r} "
            "(use http://127.0.0.1:<port>)",
            file=sys.stderr,
        )
        return 2
    if not is_listening(url):
        print(f"loadtest: nothing answers at {url}: start Loupe first (make run)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
