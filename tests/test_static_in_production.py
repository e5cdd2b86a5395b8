"""The production static setup (hashed names from collectstatic) renders pages.

Tests use plain static storage; this one checks the real one, which fails at
render time when collectstatic was not run (make run and the Docker image run it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.test import Client


def test_pages_render_with_the_manifest_storage(settings: Any, tmp_path: Path, db: None) -> None:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    assert "/static/css/loupe." in response.content.decode()
