"""Small helpers that read environment variables and fail loudly on bad values.

Every os.environ read of the project goes through here, so the settings
contract lives in one place (settings.py) and a typo never silently becomes
a default.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    """The variable's value; unset or blank both mean the default (compose's ${X:-})."""
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int | None, *, minimum: int = 0) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_count(name: str, default: int, *, minimum: int = 0) -> int:
    """Like env_int, for settings that always have a number."""
    value = env_int(name, default, minimum=minimum)
    assert value is not None  # a default was given
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise ImproperlyConfigured(f"{name} must not be negative, got {value}")
    return value


def env_list(name: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]


def env_host_ports(name: str) -> frozenset[tuple[str, int]]:
    """Parse a comma-separated list of host:port entries (IPv6 as [::1]:port)."""
    entries: set[tuple[str, int]] = set()
    for item in env_list(name):
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(f"{name} entries must look like host:port, got {item!r}")
        entries.add((host.strip("[]").lower(), int(port)))
    return frozenset(entries)


def env_url(name: str, default: str) -> str:
    value = env_str(name, default).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"{name} must be an http(s) URL, got {value!r}")
    return value
