"""python manage.py library_import PATH... : folders, zip files, URL lists or single images."""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from webapp.library.models import ImportRun
from webapp.library.processing import Failed, Outcome, Skipped
from webapp.library.services import library_import
from webapp.library.sources import BadEntry


class Command(BaseCommand):
    help = (
        "Import images into the local library from folders, zip files, text files listing "
        "image URLs (one a line), or single image files. A sidecar NAME.txt beside an image "
        "gives its title (first line), description, and translations (lines 'lang=text'). "
        "Running it again skips images already stored, so an interrupted import resumes."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="Decoding processes (default: one per core).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        bar = tqdm(
            total=0,
            unit="img",
            desc="Importing",
            disable=options["no_progress"],
            dynamic_ncols=True,
            smoothing=0.1,
        )
        counts = {"known": 0, "bad": 0}

        def on_total(total: int) -> None:
            bar.total = total
            bar.refresh()

        def on_progress(outcome: Outcome | BadEntry) -> None:
            if isinstance(outcome, Skipped):
                counts["known"] += 1
            elif isinstance(outcome, Failed | BadEntry):
                counts["bad"] += 1
            bar.set_postfix(counts, refresh=False)
            bar.update(1)

        try:
            run = library_import(
                paths=options["paths"],
                workers=options["workers"],
                on_progress=on_progress,
                on_total=on_total,
            )
        except KeyboardInterrupt:
            bar.close()
            raise CommandError(
                "Interrupted. What was imported is kept; run the same command again to resume."
            ) from None
        bar.close()
        self._summary(run)

    def _summary(self, run: ImportRun) -> None:
        took = (
            (run.finished_at - run.started_at).total_seconds()
            if run.finished_at and run.started_at
            else 0.0
        )
        rate = f", {run.processed / took:.1f} images/s" if took > 0 else ""
        self.stdout.write(
            f"Import {run.pk}: {run.total} file(s) in {took:.1f} s{rate}. "
            f"Added {run.added}, already in the library {run.duplicates}, failed {run.failed}."
        )
        if run.embedded or run.embedding_error:
            self.stdout.write(f"Embedded {run.embedded} new image(s).")
        if run.embedding_error:
            self.stdout.write(self.style.WARNING(run.embedding_error))
        if run.bad_files:
            self.stdout.write(
                self.style.WARNING(f"{len(run.bad_files)} file(s) could not be imported:")
            )
            for entry in run.bad_files:
                self.stdout.write(f"  {entry['source']}: {entry['reason']}")
