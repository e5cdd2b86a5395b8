"""python manage.py library_export_for_emulator: the manifest the offline emulator answers from."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from webapp.library.emulator_manifest import default_manifest_path, library_manifest_write


class Command(BaseCommand):
    help = (
        "Write the library's manifest for the offline emulator (python -m webapp.emulator "
        "--library-manifest PATH), which then answers IQS and image_search calls from the "
        "library's images. make run calls this on every start. A running emulator reloads "
        "the file when it changes."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            default=None,
            help=f"Where to write it (default: LOUPE_VAR_DIR/{default_manifest_path().name}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["output"] or default_manifest_path()
        if path.is_dir():
            raise CommandError(f"{path} is a folder; give the path of the file to write.")
        try:
            count = library_manifest_write(path=path)
        except OSError as exc:
            raise CommandError(f"Could not write {path}: {exc.strerror or exc}.") from exc
        self.stdout.write(f"Emulator library manifest: {count} image(s) written to {path}.")
