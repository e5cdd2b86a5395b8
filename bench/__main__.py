"""`make bench`: every figure the issues ask for, printed as medians and ratios."""

from __future__ import annotations

import platform
import sys

from bench import app_overhead, thumbnails


def main() -> None:
    print(f"Loupe bench on {platform.machine()}, Python {sys.version.split()[0]}")
    sections = [
        ("Thumbnails (issue 2)", thumbnails.run),
        ("Text search (issue 2)", app_overhead.run),
    ]
    for title, run in sections:
        print(f"\n## {title}")
        for label, value in run():
            print(f"- {label}: {value}")


if __name__ == "__main__":
    main()
