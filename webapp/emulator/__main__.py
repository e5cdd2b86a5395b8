"""``python -m webapp.emulator --host 127.0.0.1 --port 8765``: serve in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from webapp.emulator.server import start_emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Loupe's offline emulator of provider APIs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    handle = start_emulator(args.host, args.port, verbose=not args.quiet)

    def stop(signum: int, frame: FrameType | None) -> None:
        handle.stop()  # SIGTERM from compose/make stops as cleanly as Ctrl-C

    signal.signal(signal.SIGTERM, stop)
    print(
        f"Loupe emulator listening on {handle.url} (IQS: POST /search/multimodal; "
        "image search: POST /compatible-mode/v1/responses)",
        flush=True,
    )
    try:
        handle.wait()
    except KeyboardInterrupt:
        handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
