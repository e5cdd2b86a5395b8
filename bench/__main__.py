"""`make bench`: every figure the issues ask for, printed as medians and ratios.

Each section runs in its own Python process: several set Django up against a
throwaway database of their own, and a fresh process also keeps one section's
caches and memory from colouring the next. `python -m bench uploads thumbnails`
runs only the sections named.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time

# (module under bench/, heading)
SECTIONS = [
    ("thumbnails", "Thumbnails (issue 2)"),
    ("app_overhead", "Text search overhead (issue 2)"),
    ("uploads", "Upload handling (issue 3)"),
    ("image_stream", "Search by image, streamed into the page (issue 3)"),
    ("library", "Local library (issue 4)"),
    ("embeddings", "Local library with an embedding backend (issue 4, section 3)"),
    ("collections", "Collections: page and exports (issue 5)"),
    ("dashboard", "Staff dashboard with 100,000 searches (issue 6)"),
    ("pipeline", "Search pipeline: capacity, mixed load, live streams (issue 9)"),
    ("pages", "Pages under load (issue 9)"),
    ("live_latency", "Live pages: worker store to image on screen (issue 9)"),
]


def main(selected: list[str]) -> int:
    print(
        f"Loupe bench on {platform.machine()}, Python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    failures = 0
    for module, heading in SECTIONS:
        if selected and module not in selected:
            continue
        print(f"\n## {heading}", flush=True)
        done = subprocess.run([sys.executable, "-m", f"bench.{module}"], check=False)
        if done.returncode:
            failures += 1
            print(f"!! bench.{module} failed (exit {done.returncode})", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
