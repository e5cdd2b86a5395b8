"""Every write of embedding vectors: after each import batch, and `library_reindex`.

Vectors are computed from the stored 320 px thumbnails, the very bytes a
query image is reduced to before it is embedded (selectors.py), so library
and query images reach the model through the same pipeline; the encoders
see 224-448 px anyway, and no original is decoded again. The network (or
the local model) is never called inside a transaction: a batch is embedded
first, then stored in one short transaction that takes the next index
sequence number, so every process's index picks the vectors up.

Safe to repeat: only images without a vector of the configured model are
embedded, and a vector that appeared meanwhile is left as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from webapp.library.embedding import EmbeddingInfo, embedding_backend, embedding_info
from webapp.library.models import ImportRun, LibraryEmbedding, LibraryImage
from webapp.library.services import _next_index_seq
from webapp.library.vectors import encode_vector
from webapp.providers.embeddings import EmbeddingBackend
from webapp.providers.errors import ProviderError

logger = logging.getLogger(__name__)

# Images per embed-and-store step: 2 OpenSearch requests, a few local batches,
# and little work lost when a run stops.
CHUNK = 64
# Errors that name one bad input: the batch is then embedded one image at a time,
# so one refused picture does not hold back the others.
_PER_INPUT_CODES = frozenset({"InvalidParameter", "InvalidImage", "DataInspectionFailed"})

ImageRef = tuple[int, str]  # (LibraryImage pk, thumbnail path under MEDIA_ROOT)


@dataclass
class EmbedOutcome:
    embedded: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (image id, sentence)
    stopped: str = ""  # why the backend failed as a whole; empty when it did not


def library_images_embed(*, images: Sequence[ImageRef], backend: EmbeddingBackend) -> EmbedOutcome:
    """Embed and store the vectors of ``images``; never raises for the backend's failures."""
    outcome = EmbedOutcome()
    root = Path(settings.MEDIA_ROOT)
    for start in range(0, len(images), CHUNK):
        readable: list[tuple[int, bytes]] = []
        for image_id, thumbnail in images[start : start + CHUNK]:
            try:
                readable.append((image_id, (root / thumbnail).read_bytes()))
            except OSError:
                outcome.failed.append((image_id, "Its thumbnail file is missing."))
        vectors = _embed(readable, backend, outcome)
        _store(backend, vectors)
        outcome.embedded += len(vectors)
        if outcome.stopped:
            break
    return outcome


def _embed(
    images: list[tuple[int, bytes]], backend: EmbeddingBackend, outcome: EmbedOutcome
) -> dict[int, list[float]]:
    if not images:
        return {}
    try:
        vectors = backend.embed_images([data for _, data in images])
        return {image_id: vector for (image_id, _), vector in zip(images, vectors, strict=True)}
    except ProviderError as exc:
        error = exc
    if error.code not in _PER_INPUT_CODES:
        logger.warning("embedding stopped: %s (%s)", error.code, error.provider_message)
        outcome.stopped = error.message
        return {}
    if len(images) == 1:
        outcome.failed.append((images[0][0], error.message))
        return {}
    found: dict[int, list[float]] = {}
    for single in images:  # find the input the service refused
        found.update(_embed([single], backend, outcome))
        if outcome.stopped:
            break
    return found


def _store(backend: EmbeddingBackend, vectors: dict[int, list[float]]) -> None:
    if not vectors:
        return
    with transaction.atomic():
        # The sequence lock also serialises with deletes: an image gone by now is skipped.
        seq = _next_index_seq()
        alive = set(LibraryImage.objects.filter(pk__in=list(vectors)).values_list("pk", flat=True))
        LibraryEmbedding.objects.bulk_create(
            [
                LibraryEmbedding(
                    image_id=image_id,
                    model=backend.name,
                    dimensions=backend.dimensions,
                    vector=encode_vector(vector),
                    index_seq=seq,
                )
                for image_id, vector in vectors.items()
                if image_id in alive
            ],
            ignore_conflicts=True,  # a second reindex running at once stored it first
        )


# --- during an import ----------------------------------------------------------------------


class ImportEmbedder:
    """Embeds each batch an import stores; at the first failure it stops for the rest of
    the run and says so on the run, and the import itself goes on."""

    def __init__(self, run: ImportRun, backend: EmbeddingBackend) -> None:
        self.run = run
        self.backend = backend
        self.stopped = False

    @classmethod
    def for_run(cls, run: ImportRun) -> ImportEmbedder | None:
        """None when no backend is configured (imports then cost exactly what they did)."""
        info = embedding_info()
        if info is None:
            return None
        if info.problem:
            _note_stop(run, info.problem)
            return None
        backend = embedding_backend()
        assert backend is not None
        return cls(run, backend)

    def after_store(self, added_sha256: list[str]) -> None:
        if self.stopped or not added_sha256:
            return
        images = list(
            LibraryImage.objects.filter(sha256__in=added_sha256)
            .order_by("pk")
            .values_list("pk", "thumbnail_file")
        )
        try:
            outcome = library_images_embed(images=images, backend=self.backend)
        except Exception:  # a bug in a backend must not stop the import itself
            logger.exception("embedding during import %s failed", self.run.pk)
            outcome = EmbedOutcome(stopped="Embedding failed on an internal error; it is logged.")
        self.run.embedded += outcome.embedded
        self.run.save(update_fields=["embedded"])
        if outcome.stopped:
            self.stopped = True
            _note_stop(self.run, outcome.stopped)


def _note_stop(run: ImportRun, sentence: str) -> None:
    run.embedding_error = (
        f"{sentence} Images imported without a vector are embedded by "
        "`python manage.py library_reindex`."
    )
    run.save(update_fields=["embedding_error"])


# --- library_reindex ------------------------------------------------------------------------


@dataclass
class ReindexSummary:
    model_name: str
    missing: int  # without a vector when the run started
    embedded: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    stopped: str = ""


def library_embeddings_missing(*, info: EmbeddingInfo) -> int:
    return LibraryImage.objects.exclude(embeddings__model=info.model_name).count()


def library_embeddings_reindex(
    *,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int, EmbedOutcome], None] | None = None,
) -> ReindexSummary:
    """Embed every library image that has no vector of the configured model.

    Raises ProviderError when no backend is configured or it cannot be built.
    Stops at the first failure of the backend as a whole (the summary says
    why); running it again continues where it stopped.
    """
    info = embedding_info()
    if info is None:
        raise ProviderError(
            "NoBackend", "No embedding backend is configured: set EMBEDDING_BACKEND first."
        )
    if info.problem:
        raise ProviderError("LocalModel", info.problem)
    backend = embedding_backend()
    assert backend is not None
    missing = LibraryImage.objects.exclude(embeddings__model=info.model_name).order_by("pk")
    summary = ReindexSummary(model_name=info.model_name, missing=missing.count())
    if on_total:
        on_total(summary.missing)
    last = 0
    while True:
        # Keyset pages, read fresh each time: no cursor stays open across API calls.
        page = list(missing.filter(pk__gt=last).values_list("pk", "thumbnail_file")[:CHUNK])
        if not page:
            break
        last = page[-1][0]
        outcome = library_images_embed(images=page, backend=backend)
        summary.embedded += outcome.embedded
        summary.failed.extend(outcome.failed)
        if on_progress:
            on_progress(len(page), outcome)
        if outcome.stopped:
            summary.stopped = outcome.stopped
            break
    return summary
