"""The load test refuses any host but this machine."""

from __future__ import annotations

import socket

import pytest

from loadtest.hosts import is_loopback_url, main


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://127.1.2.3:80/",
        "https://localhost:8443",
        "http://[::1]:8000",
    ],
)
def test_loopback_urls_are_allowed(url: str) -> None:
    assert is_loopback_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8000",
        "http://example.com",
        "http://127.0.0.1.example.com",
        "ftp://127.0.0.1/",
        "127.0.0.1:8000",
        "http://127.0.0.1:notaport",
        "",
    ],
)
def test_other_hosts_are_refused(url: str) -> None:
    assert not is_loopback_url(url)


def test_the_check_wants_something_listening() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert main([f"http://127.0.0.1:{port}"]) == 0
    assert main([f"http://127.0.0.1:{port}"]) == 2  # closed now
    assert main(["http://192.0.2.1:80"]) == 2
