"""Sweep once by hand: what every worker does every SEARCH_SWEEP_SECONDS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from webapp.library.recovery import library_uploads_sweep
from webapp.search.leases import searches_sweep


class Command(BaseCommand):
    help = (
        "Re-queue, re-send or fail searches and library uploads left behind by a dead "
        "worker or a lost message."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = searches_sweep()
        uploads = library_uploads_sweep()
        self.stdout.write(
            f"searches: re-queued {len(report.requeued)}, failed {len(report.failed)}, "
            f"sent again {len(report.redispatched)}; library uploads recovered {len(uploads)}"
        )
