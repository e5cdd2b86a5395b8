"""The dashboard's settings fail loudly on a bad value, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = (
    "import webapp.settings as s; "
    "print(s.IQS_DAILY_QUOTA, s.STUCK_SEARCH_MINUTES, s.IQS_PRICE_PER_CALL_CNY)"
)
PRINT_SETTINGS = (
    "import webapp.settings as s; "
    "print(s.IQS_DAILY_QUOTA, s.STUCK_SEARCH_MINUTES, s.IQS_PRICE_PER_CALL_CNY)"
)


def _load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            PRINT_SETTINGS,
        ],
        cwd=ROOT,
        env={**os.environ, "LOUPE_VAR_DIR": str(tmp_path), "SECRET_KEY": "test", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_defaults(tmp_path: Path) -> None:
    env = {"IQS_DAILY_QUOTA": "", "STUCK_SEARCH_MINUTES": "", "IQS_PRICE_PER_CALL_CNY": ""}
    result = _load_settings(tmp_path, **env)
    assert result.stdout.split() == ["1000", "10", "0.0"]


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        ("IQS_DAILY_QUOTA", "0", "IQS_DAILY_QUOTA must be at least 1, got 0"),
        ("IQS_DAILY_QUOTA", "lots", "IQS_DAILY_QUOTA must be an integer, got 'lots'"),
        ("STUCK_SEARCH_MINUTES", "0", "STUCK_SEARCH_MINUTES must be at least 1, got 0"),
        ("IQS_PRICE_PER_CALL_CNY", "-1", "IQS_PRICE_PER_CALL_CNY must not be negative"),
        ("IQS_PRICE_PER_CALL_CNY", "cheap", "IQS_PRICE_PER_CALL_CNY must be a number"),
    ],
)
def test_a_bad_value_stops_start_up_with_a_sentence(
    tmp_path: Path, name: str, value: str, sentence: str
) -> None:
    result = _load_settings(tmp_path, **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert sentence in result.stderr
