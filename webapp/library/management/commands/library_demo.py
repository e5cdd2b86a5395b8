"""python manage.py library_demo: import the demo set (scikit-image's sample pictures) once."""

from __future__ import annotations

import tempfile
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from webapp.library.demo import build_demo_folder
from webapp.library.models import ImportRun
from webapp.library.services import library_import


class Command(BaseCommand):
    help = (
        "Import the demo library (scikit-image's sample pictures, with English and Chinese "
        "descriptions) unless it was imported before. make run calls this on every start."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--force", action="store_true", help="Import even if done before.")

    def handle(self, *args: Any, **options: Any) -> None:
        done = ImportRun.objects.filter(kind=ImportRun.Kind.DEMO, status=ImportRun.Status.DONE)
        if done.exists() and not options["force"]:
            self.stdout.write("The demo library is already imported.")
            return
        with tempfile.TemporaryDirectory(prefix="loupe-demo-") as folder:
            count = build_demo_folder(Path(folder))
            if not count:
                raise CommandError(
                    "scikit-image's sample pictures were not found; is it installed?"
                )
            # Two dozen files: inline is faster than starting worker processes.
            run = library_import(
                paths=[folder],
                kind=ImportRun.Kind.DEMO,
                workers=1,
                source_label=(folder, "scikit-image sample data"),
            )
        self.stdout.write(
            f"Demo library: {run.added} image(s) added, {run.duplicates} already there, "
            f"{run.failed} failed."
        )
        for entry in run.bad_files:
            self.stdout.write(f"  {entry['source']}: {entry['reason']}")
