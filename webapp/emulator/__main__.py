"""``python -m webapp.emulator --host 127.0.0.1 --port 8765``: serve in the foreground.

``--library-manifest PATH`` answers from the local library that
``python manage.py library_export_for_emulator`` described (library.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from webapp.emulator.library import ManifestError
from webapp.emulator.server import start_emulator


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
    args = parser.parse_args(argv)
    try:
        handle = start_emulator(
            args.host, args.port, verbose=not args.quiet, library_manifest=args.library_manifest
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
