"""``python -m webapp.emulator --host 127.0.0.1 --port 8765``: serve in the foreground.

``--library-manifest PATH`` answers from the local library that
``python manage.py library_export_for_emulator`` described (library.py).

``--iqs-latency 1 --stream-seconds 15`` makes the services as slow as the real
ones (IQS answers in about a second, an image search streams for about 15 s);
the defaults come from ``EMULATOR_IQS_LATENCY_SECONDS`` and
``EMULATOR_STREAM_SECONDS``, and without them the emulator answers at once.
``POST /_emulator/timing`` changes both while it runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from webapp.emulator.core import MAX_TIMING_SECONDS, Timing
from webapp.emulator.library import ManifestError
from webapp.emulator.server import start_emulator

IQS_LATENCY_ENV = "EMULATOR_IQS_LATENCY_SECONDS"
STREAM_SECONDS_ENV = "EMULATOR_STREAM_SECONDS"


def seconds(raw: str) -> float:
    """argparse type: a number of seconds from 0 to MAX_TIMING_SECONDS, or a clear error."""
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None
    if not 0 <= value <= MAX_TIMING_SECONDS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_TIMING_SECONDS:g}: {raw!r}")
    return value


def _env_default(name: str) -> str:
    # A string default goes through ``type`` too, so a bad env value fails as loudly
    # as a bad flag. The emulator has no Django, hence no webapp.env here.
    return os.environ.get(name, "").strip() or "0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Loupe's offline emulator of provider APIs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    parser.add_argument(
        "--library-manifest",
        metavar="PATH",
        default=None,
        help="answer IQS and image search from the local library this manifest lists "
        "(written by `manage.py library_export_for_emulator`); reloaded when it changes",
    )
    parser.add_argument(
        "--iqs-latency",
        metavar="SECONDS",
        type=seconds,
        default=_env_default(IQS_LATENCY_ENV),
        help=f"IQS answers after this long, ±10%% (real: about 1); env {IQS_LATENCY_ENV}; "
        "default 0, at once",
    )
    parser.add_argument(
        "--stream-seconds",
        metavar="SECONDS",
        type=seconds,
        default=_env_default(STREAM_SECONDS_ENV),
        help=f"an image-search stream lasts this long, ±10%% (real: about 15); env "
        f"{STREAM_SECONDS_ENV}; default 0, paced for a person's eyes (a few seconds)",
    )
    args = parser.parse_args(argv)
    timing = Timing(iqs_latency=args.iqs_latency, stream_seconds=args.stream_seconds)
    try:
        handle = start_emulator(
            args.host,
            args.port,
            verbose=not args.quiet,
            timing=timing,
            library_manifest=args.library_manifest,
        )
    except ManifestError as exc:
        parser.exit(2, f"emulator: {exc.message}\n")

    def stop(signum: int, frame: FrameType | None) -> None:
        handle.stop()  # SIGTERM from compose/make stops as cleanly as Ctrl-C

    signal.signal(signal.SIGTERM, stop)
    print(
        f"Loupe emulator listening on {handle.url} (IQS: POST /search/multimodal; "
        "image search: POST /compatible-mode/v1/responses)",
        flush=True,
    )
    if timing != Timing():
        print(
            f"Realistic timing: IQS answers after {timing.iqs_latency:g} s, an image search "
            f"streams for {timing.stream_seconds:g} s (each ±10%).",
            flush=True,
        )
    if handle.state.library is not None:
        found = handle.state.library.current()
        print(
            f"Answering from the local library: {len(found)} image(s)."
            if found is not None
            else "The library manifest lists no images: answering from the built-in examples.",
            flush=True,
        )
    try:
        handle.wait()
    except KeyboardInterrupt:
        handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
