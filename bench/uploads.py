"""Upload handling for search by image: validate, strip, re-encode a 10 MB, 24 MP JPEG.

Each run happens in a fresh Python process, so its peak resident memory
(ru_maxrss) belongs to this work alone; the baseline after imports is subtracted.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

TARGET_BYTES = 10 * 1024 * 1024

_CHILD = r"""
import json, sys, time
from webapp.imaging.thumbnails import make_thumbnail, reencode_upload

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
data = open(sys.argv[1], "rb").read()
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to now
before = status("VmRSS")
started = time.perf_counter()
clean, content_type, width, height = reencode_upload(data, max_bytes=len(data), max_side=2048)
make_thumbnail(clean, max_side=160)
elapsed = time.perf_counter() - started
peak = status("VmHWM")
print(json.dumps({"ms": elapsed * 1000, "peak_mb": peak - before, "rss_mb": peak,
                  "out": [width, height, len(clean)]}))
"""


def _photo(path: Path) -> int:
    """A 6000x4000 (24 MP) JPEG of just under 10 MB, noisy like a real photo."""
    base = Image.radial_gradient("L").resize((6000, 4000)).convert("RGB")
    noise = Image.effect_noise((6000, 4000), 60).convert("RGB")
    photo = Image.blend(base, noise, 0.35)
    for quality in (92, 88, 84, 80, 75, 70):
        out = io.BytesIO()
        photo.save(out, "JPEG", quality=quality)
        if out.tell() <= TARGET_BYTES:
            path.write_bytes(out.getvalue())
            return out.tell()
    raise RuntimeError("could not make a test photo under 10 MB")


def run(samples: int = 5) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        size = _photo(photo)
        runs = [
            json.loads(
                subprocess.check_output(
                    [sys.executable, "-c", _CHILD, str(photo)],
                    cwd=Path(__file__).resolve().parents[1],
                )
            )
            for _ in range(samples)
        ]
    width, height, out_bytes = runs[0]["out"]
    return [
        (
            f"upload handling of a {size / 1e6:.1f} MB 24 MP JPEG (median of {samples})",
            f"{statistics.median(r['ms'] for r in runs):.0f} ms (target < 1000 ms)",
        ),
        (
            "  peak memory added while handling it",
            f"{statistics.median(r['peak_mb'] for r in runs):.0f} MB (target < 300 MB; "
            f"whole process {statistics.median(r['rss_mb'] for r in runs):.0f} MB)",
        ),
        ("  sent to the provider as", f"{width}×{height}, {out_bytes / 1e6:.2f} MB, EXIF stripped"),
    ]


if __name__ == "__main__":
    for label, value in run():
        print(f"- {label}: {value}", flush=True)
