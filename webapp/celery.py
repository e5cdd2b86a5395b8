"""The Celery app. Configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _start_sweeper(**_: object) -> None:
    """Every worker sweeps for searches left behind (webapp/search/leases.py).

    In the worker, not in beat: a deployment that runs no beat still recovers,
    and the sweep needs only the database, so it works while the broker is down.
    """
    from webapp.library.recovery import library_uploads_sweep
    from webapp.live.bus import forget_old_files
    from webapp.search.leases import searches_sweep, sweeper

    sweeper.start([searches_sweep, library_uploads_sweep, forget_old_files])


@worker_shutting_down.connect
def _stop_background_threads(**_: object) -> None:
    from webapp.search.leases import lease_keeper, sweeper

    sweeper.stop()
    lease_keeper.stop()
