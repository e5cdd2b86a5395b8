"""The embedding settings fail loudly on a bad value, and fall back on the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT = (
    "import webapp.settings as s; "
    "print(s.EMBEDDING_BACKEND, s.OPENSEARCH_EMBEDDING_EFFECTIVE_HOST, "
    "s.DASHSCOPE_EMBEDDING_EFFECTIVE_BASE_URL, s.DASHSCOPE_EMBEDDING_EMULATED)"
)
CLEAR = {
    name: ""
    for name in (
        "EMBEDDING_BACKEND",
        "OPENSEARCH_EMBEDDING_API_KEY",
        "OPENSEARCH_EMBEDDING_HOST",
        "OPENSEARCH_EMBEDDING_MODEL",
        "DASHSCOPE_EMBEDDING_API_KEY",
        "DASHSCOPE_API_KEY",
        "LOCAL_CLIP_MODEL",
        "EMBEDDING_WEIGHT",
    )
}


def load(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env={
            **os.environ,
            "LOUPE_VAR_DIR": str(tmp_path),
            "SECRET_KEY": "test",
            "EMULATOR_URL": "http://127.0.0.1:8765",
            **CLEAR,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_by_default_there_is_no_backend_and_keyless_ones_point_at_the_emulator(
    tmp_path: Path,
) -> None:
    result = load(tmp_path)

    assert result.stdout.split() == [
        "none",
        "http://127.0.0.1:8765",
        "http://127.0.0.1:8765",
        "True",
    ]


def test_a_dashscope_key_serves_the_embedding_too(tmp_path: Path) -> None:
    result = load(tmp_path, EMBEDDING_BACKEND="dashscope", DASHSCOPE_API_KEY="sk-x")

    assert result.stdout.split() == [
        "dashscope",
        "http://127.0.0.1:8765",
        "https://dashscope.aliyuncs.com",
        "False",
    ]


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({"EMBEDDING_BACKEND": "faiss"}, "EMBEDDING_BACKEND must be one of none, opensearch"),
        ({"EMBEDDING_BACKEND": "local"}, "EMBEDDING_BACKEND=local needs LOCAL_CLIP_MODEL"),
        (
            {"EMBEDDING_BACKEND": "local", "LOCAL_CLIP_MODEL": "/no/such/folder"},
            "got '/no/such/folder'",
        ),
        (
            {"EMBEDDING_BACKEND": "opensearch", "OPENSEARCH_EMBEDDING_API_KEY": "OS-x"},
            "OPENSEARCH_EMBEDDING_HOST must be set",
        ),
        ({"OPENSEARCH_EMBEDDING_MODEL": "ops-bert"}, "OPENSEARCH_EMBEDDING_MODEL must be one of"),
        ({"EMBEDDING_WEIGHT": "2"}, "EMBEDDING_WEIGHT must be between 0 and 1"),
    ],
)
def test_a_bad_value_stops_start_up_with_a_sentence(
    tmp_path: Path, env: dict[str, str], sentence: str
) -> None:
    result = load(tmp_path, **env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert sentence in result.stderr
