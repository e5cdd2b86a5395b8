"""Run a bench module's measurements in a child process with a throwaway var/ folder.

The child gets its own SQLite file and media folder, so a bench never touches
a developer's data, and Django can be set up there whatever the parent did.
The child prints its (label, value) rows as one JSON line at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_child(
    module: str, tmp: str, extra_env: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """Run ``python -m <module> --child`` with var/ and media under ``tmp``."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "LOUPE_VAR_DIR": tmp,
            "MEDIA_ROOT": str(Path(tmp) / "media"),
            "SECRET_KEY": "bench-only",
            "LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
    )
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", module, "--child"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{done.stderr[-4000:]}")
    pairs = json.loads(done.stdout.strip().splitlines()[-1])
    return [(str(label), str(value)) for label, value in pairs]


def setup_child_django() -> None:
    """In the child: set Django up and create its tables in the throwaway database."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
