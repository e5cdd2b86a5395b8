"""One bounded pool for CPU work in a process, sized to the cores.

A worker runs up to WORKER_CONCURRENCY searches in threads, and each search
decodes images. Decoding in every one of those threads at once would only make
them take turns on two cores while holding memory for every image; through this
pool at most ``os.cpu_count()`` decodes run at a time and the rest wait their
turn (Pillow releases the GIL while it decodes, so the pool uses every core).
Network waits never go through here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def cpu_workers() -> int:
    return os.cpu_count() or 1


def _cpu_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=cpu_workers(), thread_name_prefix="cpu")
        return _pool


def on_cpu(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``work`` in the CPU pool and wait for it; its exception is raised here."""
    return _cpu_pool().submit(work, *args, **kwargs).result()
