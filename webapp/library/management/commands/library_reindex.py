"""python manage.py library_reindex: give every library image a vector of the configured model."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from webapp.library.embedding import embedding_info
from webapp.library.embedding_services import EmbedOutcome, library_embeddings_reindex
from webapp.providers.errors import ProviderError


class Command(BaseCommand):
    help = (
        "Embed the library images that have no vector of the configured embedding model "
        "(EMBEDDING_BACKEND). Safe to run again: it does only what is missing, so an "
        "interrupted or failed run continues where it stopped."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        info = embedding_info()
        if info is None:
            raise CommandError(
                "No embedding backend is configured. Set EMBEDDING_BACKEND to opensearch, "
                "dashscope or local (see the README) and run this again."
            )
        if info.problem:
            raise CommandError(info.problem)
        self.stdout.write(f"Embedding with {info.label} ({info.model_name}).")
        bar = tqdm(
            total=0,
            unit="img",
            desc="Embedding",
            disable=options["no_progress"],
            dynamic_ncols=True,
            smoothing=0.1,
        )
        failed = {"failed": 0}

        def on_total(total: int) -> None:
            bar.total = total
            bar.refresh()

        def on_progress(done: int, outcome: EmbedOutcome) -> None:
            failed["failed"] += len(outcome.failed)
            bar.set_postfix(failed, refresh=False)
            bar.update(done)

        try:
            summary = library_embeddings_reindex(on_total=on_total, on_progress=on_progress)
        except ProviderError as exc:
            bar.close()
            raise CommandError(exc.message) from None
        except KeyboardInterrupt:
            bar.close()
            raise CommandError(
                "Interrupted. The vectors stored so far are kept; run it again to continue."
            ) from None
        bar.close()
        if not summary.missing:
            self.stdout.write("Every image already has a vector of this model; nothing to do.")
            return
        self.stdout.write(
            f"Embedded {summary.embedded} of the {summary.missing} image(s) that had no vector."
        )
        if summary.failed:
            self.stdout.write(
                self.style.WARNING(f"{len(summary.failed)} image(s) could not be embedded:")
            )
            for image_id, reason in summary.failed:
                self.stdout.write(f"  image {image_id}: {reason}")
        if summary.stopped:
            raise CommandError(
                f"Stopped early: {summary.stopped} Run it again to continue where it stopped."
            )
