"""The local library (issue 4): import rate, query latency at 10k/100k, memory, recall@1.

Runs in a child process with its own temporary var/ folder (SQLite file, media),
so it never touches a developer's data, and so Django can be set up there
whatever the other bench sections configured in the parent process.

* import: photo-like JPEGs of 1.2–3 MP (bench.thumbnails.make_photo), imported
  with `library_import` and a process pool of 2 workers (no embeddings);
  images per second over the wall time of the whole import, pool start included.
* text and image queries: synthetic rows (random words in English and
  Chinese, random hashes and descriptors) inserted up to 10k and then 100k
  images; p50 of `library_search_text` and of the image search after the query
  image's decode (`_search_features`), both through the real selector path:
  state check, index scan, filters, and the database read of the page's rows.
* memory: what the in-memory index holds per image, and the process's RSS
  growth while loading it.
* recall@1: the 25 demo sample images plus 300 photo-like distractors; each
  sample image transformed (transforms.py) and searched; the same queries
  against imagehash's plain pHash of each original (nearest by Hamming distance).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.isolated import run_child, setup_child_django

IMPORT_IMAGES = 120
DISTRACTORS = 300
SIZES_TO_TEST = (10_000, 100_000)


def run() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="loupe-bench-library-") as tmp:
        return run_child("bench.library", tmp)


# --- the child ---------------------------------------------------------------------------


def _import_rate(folder: Path) -> tuple[str, str]:
    from PIL import ImageDraw

    from bench.thumbnails import make_photo
    from webapp.library.services import library_import

    rng = random.Random(4)
    sizes = [(1280, 960), (1600, 1200), (1920, 1080), (2000, 1500), (1440, 1080), (1800, 1200)]
    originals = [make_photo(sizes[i % len(sizes)], rng) for i in range(len(sizes) * 2)]
    for index in range(IMPORT_IMAGES):
        # A few distinct pictures, each saved with its own tweak, so every file's bytes differ.
        image = originals[index % len(originals)].copy()
        x = (index * 37) % (image.width - 24)
        colour = (index * 7 % 256, index * 13 % 256, index * 29 % 256)
        ImageDraw.Draw(image).rectangle((x, 8, x + 24, 32), fill=colour)
        image.save(folder / f"photo-{index:03d}.jpg", "JPEG", quality=85)
    started = time.perf_counter()
    run = library_import(paths=[str(folder)], workers=2)
    seconds = time.perf_counter() - started
    assert run.added == IMPORT_IMAGES, (run.added, run.bad_files[:3])
    return (
        "import of 1.2–3 MP JPEGs, 2 worker processes, no embeddings",
        f"{IMPORT_IMAGES / seconds:.0f} images/s  (target ≥ 40; {IMPORT_IMAGES} files in "
        f"{seconds:.1f} s, pool start included)",
    )


_EN = [f"w{n}" for n in range(6000)]
_ZH_CHARS = "猫狗鸟鱼马牛羊山水火风云雨雪花草树林海河湖天星月日光影城市街道房屋桥车船人家书画茶咖啡"


def _zh_words(rng: random.Random) -> list[str]:
    return [
        "".join(rng.choice(_ZH_CHARS) for _ in range(rng.choice((1, 2, 2, 3)))) for _ in range(300)
    ]


def _synthetic_rows(count: int, start: int, rng: random.Random, zh: list[str]) -> list[Any]:
    import numpy as np

    from webapp.library.features import DESCRIPTOR_DIMS, HASHES_PER_IMAGE
    from webapp.library.models import LibraryImage
    from webapp.library.text import CHAR_PREFIX

    weights = [1 / (rank + 1) for rank in range(len(_EN))]  # Zipf-like word frequencies
    rows = []
    hashes = np.frombuffer(rng.randbytes(count * HASHES_PER_IMAGE * 8), dtype="<u8").reshape(
        count, HASHES_PER_IMAGE
    )
    descriptors = np.random.default_rng(start).standard_normal((count, DESCRIPTOR_DIMS))
    descriptors /= np.linalg.norm(descriptors, axis=1, keepdims=True)
    for offset in range(count):
        index = start + offset
        title = rng.choices(_EN, weights, k=rng.randint(2, 5))
        description = rng.choices(_EN, weights, k=rng.randint(8, 20))
        chinese = rng.sample(zh, rng.randint(3, 8))
        tags = rng.choices(_EN[:200], k=2)
        width, height = rng.choice([(1600, 1200), (1200, 1600), (1000, 1000), (640, 480)])
        rows.append(
            LibraryImage(
                sha256=f"{index:064x}",
                source=f"/photos/{index}.jpg",
                file_name=f"img_{index}.jpg",
                format="JPEG",
                width=width,
                height=height,
                bytes=500_000,
                title=" ".join(title),
                description=" ".join(description),
                translations={"zh": "".join(chinese)},
                tags=tags,
                original_file="x",
                thumbnail_file="x",
                thumb_width=320,
                thumb_height=240,
                hashes=hashes[offset].astype("<u8").tobytes(),
                descriptor=descriptors[offset].astype("<f2").tobytes(),
                terms={
                    "title": title,
                    "description": description + chinese,
                    "tags": tags,
                    "file": ["img", str(index)],
                    "chars": [CHAR_PREFIX + c for c in "".join(chinese)],
                },
                index_seq=1,
            )
        )
    return rows


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _p50(samples: list[float]) -> str:
    p90 = statistics.quantiles(samples, n=10)[-1]
    return f"{statistics.median(samples):.1f} ms (p90 {p90:.1f} ms)"


def _query_latency() -> list[tuple[str, str]]:
    import numpy as np
    from django.db import transaction

    from webapp.library import selectors
    from webapp.library.features import DESCRIPTOR_DIMS, QueryFeatures
    from webapp.library.models import LibraryImage, LibraryIndexState
    from webapp.library.services import _next_index_seq

    rng = random.Random(7)
    zh = _zh_words(rng)
    queries = (
        [rng.choice(_EN[:50]) for _ in range(15)]  # common words: long posting lists
        + [rng.choice(_EN[500:6000]) for _ in range(15)]  # rare words
        + [f"{rng.choice(_EN[:300])} {rng.choice(_EN[:3000])}" for _ in range(15)]
        + [rng.choice(zh) for _ in range(15)]
    )
    figures: list[tuple[str, str]] = []
    LibraryImage.objects.all().delete()
    LibraryIndexState.objects.filter(pk=1).update(removals=1)
    selectors.library_index_reset()
    have = 0
    for size in SIZES_TO_TEST:
        for start in range(have, size, 5000):
            LibraryImage.objects.bulk_create(
                _synthetic_rows(min(5000, size - start), start, rng, zh), batch_size=1000
            )
        have = size
        with transaction.atomic():
            seq = _next_index_seq()
            LibraryImage.objects.update(index_seq=seq)
        selectors.library_index_reset()
        rss_before = _rss_bytes()
        started = time.perf_counter()
        count = selectors.library_index_size()
        load_seconds = time.perf_counter() - started
        rss_growth = _rss_bytes() - rss_before
        assert count == size, count
        with selectors._lock:
            index_bytes = selectors._current_index().memory_bytes()

        text_ms = []
        for query in queries * 3:
            started = time.perf_counter()
            selectors.library_search_text(query=query, limit=50)
            text_ms.append((time.perf_counter() - started) * 1000)

        image_ms = []
        vectors = np.random.default_rng(size).standard_normal((2, DESCRIPTOR_DIMS))
        for round_ in range(40):
            features = QueryFeatures(
                hashes=np.array([rng.getrandbits(64), rng.getrandbits(64)], dtype=np.uint64),
                descriptors=(vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(
                    np.float32
                ),
            )
            started = time.perf_counter()
            selectors._search_features(features, 50, 0, selectors.LibraryFilters(), started)
            image_ms.append((time.perf_counter() - started) * 1000)
            vectors = np.roll(vectors, round_ + 1, axis=1)

        label = f"{size // 1000}k images"
        figures += [
            (
                f"text query p50, {label}",
                _p50(text_ms) + ("  (target ≤ 20 ms)" if size == 100_000 else ""),
            ),
            (
                f"image query p50 (decode excluded), {label}",
                _p50(image_ms) + ("  (target ≤ 50 ms)" if size == 100_000 else ""),
            ),
            (
                f"index memory, {label}",
                f"{index_bytes / size:.0f} bytes/image held by the index; process RSS grew "
                f"{rss_growth / size:.0f} bytes/image while loading "
                f"({rss_growth / 2**20:.0f} MiB); "
                f"load from the database {load_seconds:.1f} s",
            ),
        ]
    LibraryImage.objects.all().delete()
    LibraryIndexState.objects.filter(pk=1).update(removals=2)
    selectors.library_index_reset()
    return figures


def _recall(folder: Path) -> list[tuple[str, str]]:
    import io

    import imagehash
    import numpy as np
    from PIL import Image

    from bench.thumbnails import make_photo
    from webapp.library.demo import build_demo_folder, demo_images
    from webapp.library.selectors import library_search_image
    from webapp.library.services import library_import
    from webapp.library.transforms import TRANSFORMS, to_jpeg

    build_demo_folder(folder / "demo")
    rng = random.Random(11)
    (folder / "distractors").mkdir()
    for index in range(DISTRACTORS):
        size = rng.choice([(640, 480), (480, 640), (600, 600)])
        make_photo(size, rng).save(folder / "distractors" / f"d{index:03d}.jpg", quality=88)
    library_import(paths=[str(folder / "demo"), str(folder / "distractors")], workers=2)

    from webapp.library.models import LibraryImage

    samples = demo_images()
    stored = {Path(row.file_name).stem: row.pk for row in LibraryImage.objects.all()}
    library_files = (
        sorted((folder / "demo").rglob("*.png"))
        + sorted((folder / "demo").rglob("*.jpg"))
        + sorted((folder / "distractors").glob("*.jpg"))
    )
    baseline_ids = [p.stem for p in library_files]
    baseline_hashes = np.array(
        [int(str(imagehash.phash(Image.open(p))), 16) for p in library_files], dtype=np.uint64
    )

    figures = []
    for name, transform in TRANSFORMS.items():
        ours = baseline = near = 0
        for key, path in samples.items():
            stem = Path(key).name
            with Image.open(path) as original:
                query = to_jpeg(transform(original.convert("RGB")))
            hits = library_search_image(image_bytes=query, limit=1).hits
            if hits and hits[0].image_id == stored[stem]:
                ours += 1
                near += hits[0].near_duplicate
            query_hash = np.uint64(int(str(imagehash.phash(Image.open(io.BytesIO(query)))), 16))
            distances = np.bitwise_count(baseline_hashes ^ query_hash)
            baseline += baseline_ids[int(np.argmin(distances))] == stem
        total = len(samples)
        figures.append(
            (
                f"recall@1, {name}",
                f"Loupe {ours}/{total} ({ours / total:.0%}; flagged near-duplicate {near}/{total}) "
                f"vs plain pHash {baseline}/{total} ({baseline / total:.0%})",
            )
        )
    figures.insert(
        0,
        (
            "recall@1 set",
            f"{len(samples)} scikit-image sample pictures + {DISTRACTORS} photo-like distractors",
        ),
    )
    return figures


def _child() -> None:
    setup_child_django()
    figures: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="loupe-bench-import-") as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        figures.append(_import_rate(folder))
    figures += _query_latency()
    with tempfile.TemporaryDirectory(prefix="loupe-bench-recall-") as tmp:
        figures += _recall(Path(tmp))
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    if "--child" in sys.argv:
        _child()
    else:
        for label, value in run():
            print(f"- {label}: {value}")
