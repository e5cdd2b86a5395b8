"""Live facts about the task queue: broker depth, workers online, tasks running.

Every probe is bounded in time and answers None ("unknown") instead of raising
or hanging the page: Celery's broadcast publishes with retry=True and kombu's
default retry policy retries forever while the broker is down, so the whole
probe also runs in a worker thread with a hard deadline.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from webapp.celery import app

logger = logging.getLogger(__name__)

# How long workers get to answer a ping. Celery waits this long whenever the
# number of workers is unknown, so it is what the queue panel costs.
INSPECT_TIMEOUT_SECONDS = 1.0
BROKER_CONNECT_TIMEOUT_SECONDS = 1
PROBE_DEADLINE_SECONDS = 3.0

# One probe at a time: if a broker hangs a probe past its deadline, later page
# views report "unknown" instead of piling up threads behind it.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queue-probe")


@dataclass(frozen=True)
class QueueDepth:
    name: str
    messages: int | None


@dataclass(frozen=True)
class RunningTask:
    worker: str
    name: str
    arguments: str
    started: datetime | None


@dataclass(frozen=True)
class QueueStatus:
    broker: str
    depths: list[QueueDepth] = field(default_factory=list)
    workers: list[str] | None = None
    running: list[RunningTask] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def workers_known(self) -> bool:
        return self.workers is not None


def _uses_disk_broker() -> bool:
    return str(settings.CELERY_BROKER_URL).startswith("filesystem://")


def broker_label() -> str:
    if _uses_disk_broker():
        return "disk broker (embedded mode)"
    # as_uri() leaves the password out.
    return str(app.connection_for_read().as_uri())


def queue_names() -> list[str]:
    return sorted({queue.name for queue in app.amqp.queues.values()} or {"celery"})


def _disk_depth(name: str) -> int:
    """Messages waiting in the disk broker's folder: files named <id>.<queue>.msg."""
    folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]))
    suffix = f".{name}.msg"
    with os.scandir(folder) as entries:
        return sum(1 for entry in entries if entry.name.endswith(suffix))


def _broker_depths(names: list[str]) -> list[QueueDepth]:
    from kombu.exceptions import ChannelError

    depths = []
    with app.connection_for_read(connect_timeout=BROKER_CONNECT_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, timeout=BROKER_CONNECT_TIMEOUT_SECONDS
        )
        # kombu's stubs type the channel as StdChannel, which lacks queue_declare.
        channel: Any = conn.default_channel
        for name in names:
            try:
                declared = channel.queue_declare(queue=name, passive=True)
            except ChannelError:
                # Redis deletes an empty list; AMQP has no such queue yet. Both: nothing waiting.
                depths.append(QueueDepth(name, 0))
                channel = conn.channel()
                continue
            depths.append(QueueDepth(name, int(declared.message_count)))
    return depths


def _started(task: Mapping[str, object]) -> datetime | None:
    started = task.get("time_start")
    if not isinstance(started, int | float):
        return None
    return datetime.fromtimestamp(started, tz=UTC)


def _probe() -> QueueStatus:
    notes: list[str] = []
    names = queue_names()
    try:
        if _uses_disk_broker():
            depths = [QueueDepth(name, _disk_depth(name)) for name in names]
        else:
            depths = _broker_depths(names)
    except Exception as exc:  # kombu and redis-py raise many types; all mean "can't tell"
        logger.warning("queue depth unknown: %s", exc)
        depths = [QueueDepth(name, None) for name in names]
        notes.append("The broker did not answer, so the queue depth is unknown.")

    workers: list[str] | None = None
    running: list[RunningTask] | None = None
    try:
        replies = app.control.inspect(timeout=INSPECT_TIMEOUT_SECONDS).ping()
        if replies:
            workers = sorted(replies)
            active = app.control.inspect(
                timeout=INSPECT_TIMEOUT_SECONDS, destination=workers, limit=len(workers)
            ).active()
            if active is not None:
                running = [
                    RunningTask(
                        worker=worker,
                        name=str(task.get("name", "?")),
                        arguments=str(task.get("args", ""))[:80],
                        started=_started(task),
                    )
                    for worker, tasks in sorted(active.items())
                    for task in tasks
                ]
        else:
            notes.append(
                f"No worker answered a ping within {INSPECT_TIMEOUT_SECONDS:g} s: either none "
                "is running or the broker does not pass broadcasts."
            )
    except Exception as exc:  # same as above: a broadcast that fails means "unknown"
        logger.warning("worker inspection failed: %s", exc)
        notes.append("Workers could not be asked (the broker refused the broadcast).")
    return QueueStatus(
        broker=broker_label(), depths=depths, workers=workers, running=running, notes=notes
    )


def queue_status() -> QueueStatus:
    """The live queue panel's facts, or "unknown" for whatever did not answer in time."""
    future = _executor.submit(_probe)
    try:
        return future.result(timeout=PROBE_DEADLINE_SECONDS)
    except FutureTimeout:
        logger.warning("queue probe took longer than %s s", PROBE_DEADLINE_SECONDS)
        return QueueStatus(
            broker=broker_label(),
            depths=[QueueDepth(name, None) for name in queue_names()],
            notes=[f"The broker did not answer within {PROBE_DEADLINE_SECONDS:g} s."],
        )
