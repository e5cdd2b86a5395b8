"""Semantic matching in the library (issue 4, section 3): embedding throughput and query latency.

Runs in a child process with its own temporary var/ folder and a tiny random
CLIP export (webapp/providers/tiny_clip.py) as EMBEDDING_BACKEND=local, loaded
through the real path (ONNX Runtime). No real weights exist here, so:

* embed throughput measures everything but a real model's arithmetic:
  reading each stored 320 px thumbnail, decoding, resizing and normalising it,
  ONNX Runtime's call, and storing the float16 vectors; a real ViT-B/32 adds
  its own CPU time per image on top (tens of ms here);
* query latency uses 768-dimension vectors (ops-m2-encoder's size) for 10k and
  100k synthetic images, through the real selector path: the query's text
  embedded by the tiny model, the exact cosine scan, the blend with BM25F,
  filters and the page's database read. It is compared, in the same run,
  with the same queries and no backend.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

from bench.isolated import run_child, setup_child_django
from bench.library import (
    _EN,
    _p50,
    _rss_bytes,
    _synthetic_rows,
    _zh_words,
)

DIMS = 768
EMBED_IMAGES = 400
SIZES_TO_TEST = (10_000, 100_000)


def run() -> list[tuple[str, str]]:

    from webapp.providers.tiny_clip import build_tiny_clip

    with tempfile.TemporaryDirectory(prefix="loupe-bench-embeddings-") as tmp:
        model = build_tiny_clip(Path(tmp) / "tiny-clip-768", dims=DIMS, image_size=64)
        return run_child(
            "bench.embeddings", tmp, {"EMBEDDING_BACKEND": "local", "LOCAL_CLIP_MODEL": str(model)}
        )


# --- the child ---------------------------------------------------------------------------


def _embed_throughput() -> list[tuple[str, str]]:
    """library_embeddings_reindex over stored thumbnails, and the backend call alone."""
    from django.conf import settings

    from bench.thumbnails import make_photo
    from webapp.library.embedding import embedding_backend
    from webapp.library.embedding_services import library_embeddings_reindex
    from webapp.library.models import LibraryEmbedding, LibraryImage

    rng = random.Random(5)
    zh = _zh_words(rng)
    rows = _synthetic_rows(EMBED_IMAGES, 0, rng, zh)
    media = Path(settings.MEDIA_ROOT)
    (media / "thumbs").mkdir(parents=True, exist_ok=True)
    thumbnails = []
    for index, row in enumerate(rows):
        path = media / "thumbs" / f"{index}.jpg"
        make_photo(rng.choice([(320, 240), (240, 320), (320, 213)]), rng).save(path, quality=82)
        row.thumbnail_file = f"thumbs/{index}.jpg"
        thumbnails.append(path.read_bytes())
    LibraryImage.objects.bulk_create(rows, batch_size=500)
    backend = embedding_backend()
    assert backend is not None
    backend_seconds = 0.0
    for _ in range(2):  # the first round loads the model and warms ONNX Runtime's threads
        started = time.perf_counter()
        for start in range(0, len(thumbnails), 64):
            backend.embed_images(thumbnails[start : start + 64])
        backend_seconds = time.perf_counter() - started

    started = time.perf_counter()
    summary = library_embeddings_reindex()
    seconds = time.perf_counter() - started
    assert summary.embedded == EMBED_IMAGES, summary
    assert LibraryEmbedding.objects.count() == EMBED_IMAGES
    LibraryImage.objects.all().delete()
    return [
        (
            "embed throughput, tiny local model (64 px input, 768-d)",
            f"{EMBED_IMAGES / backend_seconds:.0f} images/s in the backend (decode, resize, "
            f"normalise, ONNX Runtime); {EMBED_IMAGES / seconds:.0f} images/s for "
            "library_reindex with thumbnail reads and float16 storage. A real CLIP adds its "
            "own inference time per image",
        )
    ]


def _query_latency() -> list[tuple[str, str]]:
    import numpy as np
    from django.db import transaction
    from django.test import override_settings

    from webapp.library import selectors
    from webapp.library.embedding import embedding_info, query_cache_clear
    from webapp.library.models import LibraryEmbedding, LibraryImage, LibraryIndexState
    from webapp.library.services import _next_index_seq

    info = embedding_info()
    assert info is not None and info.dimensions == DIMS, info
    rng = random.Random(7)
    zh = _zh_words(rng)
    queries = (
        [rng.choice(_EN[:50]) for _ in range(10)]
        + [rng.choice(_EN[500:6000]) for _ in range(10)]
        + [f"{rng.choice(_EN[:300])} {rng.choice(_EN[:3000])}" for _ in range(10)]
        + [rng.choice(zh) for _ in range(10)]
    )
    vectors = np.random.default_rng(3)
    figures: list[tuple[str, str]] = []
    LibraryImage.objects.all().delete()
    LibraryIndexState.objects.filter(pk=1).update(removals=1)
    selectors.library_index_reset()
    have = 0
    for size in SIZES_TO_TEST:
        for start in range(have, size, 5000):
            created = LibraryImage.objects.bulk_create(
                _synthetic_rows(min(5000, size - start), start, rng, zh), batch_size=1000
            )
            block = vectors.standard_normal((len(created), DIMS)).astype(np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            LibraryEmbedding.objects.bulk_create(
                [
                    LibraryEmbedding(
                        image_id=row.pk,
                        model=info.model_name,
                        dimensions=DIMS,
                        vector=block[n].astype("<f2").tobytes(),
                    )
                    for n, row in enumerate(created)
                ],
                batch_size=1000,
            )
        have = size
        with transaction.atomic():
            seq = _next_index_seq()
            LibraryImage.objects.update(index_seq=seq)
            LibraryEmbedding.objects.update(index_seq=seq)

        def timed(semantic: bool) -> list[float]:
            samples = []
            backend = "local" if semantic else "none"
            with override_settings(EMBEDDING_BACKEND=backend):
                selectors.library_search_text(query="warm up")
                for query in queries * 3:
                    query_cache_clear()  # every query is embedded, as a new one would be
                    started = time.perf_counter()
                    selectors.library_search_text(query=query, limit=50)
                    samples.append((time.perf_counter() - started) * 1000)
            return samples

        selectors.library_index_reset()
        plain = timed(False)
        selectors.library_index_reset()
        rss_before = _rss_bytes()
        started = time.perf_counter()
        with override_settings(EMBEDDING_BACKEND="local"):
            assert selectors.library_index_size() == size
        load_seconds = time.perf_counter() - started
        rss_growth = _rss_bytes() - rss_before
        with selectors._lock:
            loaded = selectors._loaded
            assert loaded is not None and loaded.vectors is not None
            vector_bytes = loaded.vectors.nbytes()
            assert loaded.vectors.count == size, loaded.vectors.count
        blended = timed(True)
        label = f"{size // 1000}k images"
        figures += [
            (
                f"text query p50 with embeddings (768-d), {label}",
                f"{_p50(blended)}; the same queries without a backend {_p50(plain)}",
            ),
            (
                f"vector index memory, {label}",
                f"{vector_bytes / size:.0f} bytes/image (float32 matrix); process RSS grew "
                f"{rss_growth / 2**20:.0f} MiB loading words, features and vectors in "
                f"{load_seconds:.1f} s",
            ),
        ]
    LibraryImage.objects.all().delete()
    LibraryIndexState.objects.filter(pk=1).update(removals=2)
    selectors.library_index_reset()
    return figures


def _child() -> None:
    setup_child_django()
    figures = _embed_throughput()
    figures += _query_latency()
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    if "--child" in sys.argv:
        _child()
    else:
        for label, value in run():
            print(f"- {label}: {value}")
