"""The in-memory search index of the library: BM25F over terms, packed matrices of features.

No Django here: ``webapp.library.selectors`` feeds it rows from the database
and keeps it current. Why in memory, and why numpy:

* The targets are p50 ≤ 20 ms for a text query and ≤ 50 ms for an image query
  at 100k images. A database full-text index would differ between SQLite (FTS5)
  and PostgreSQL (tsvector, which has no Chinese parser), so ranking would
  depend on the deployment. An inverted index here is the same everywhere,
  and at 100k images it costs tens of megabytes (the bench states it).
* The index is rebuilt from the database, never the source of truth: every
  process (web, worker) keeps its own copy and catches up by reading the rows
  whose ``index_seq`` is above the last one it saw (``LibraryIndexState``).
* Image search is a brute-force scan, vectorised: XOR + popcount over a
  (slots × 35) uint64 matrix of window pHashes, and a dot product of the
  (slots × 132) float32 descriptor matrix with each query descriptor. At
  100k images that is 20-30 ms on one core (the bench measures it), exact,
  with no approximate-index tuning and no compiled dependency. It grows
  linearly: past roughly 200k images it passes the 50 ms budget, and an HNSW
  index (hnswlib, or FAISS) over the descriptors, with the hashes checked
  only for its candidates, is the next step.

Slots are append-only; replacing an image (its metadata changed) marks the
old slot dead and appends a new one. Removals make the caller rebuild.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from webapp.library.features import DESCRIPTOR_DIMS, HASHES_PER_IMAGE

# BM25F: a term in the title counts three times one in the description.
FIELD_WEIGHTS = {"title": 3.0, "tags": 2.0, "description": 1.0, "file": 1.0, "chars": 0.5}
K1 = 1.2
_BLOCK = 4096
B = 0.75


@dataclass(frozen=True)
class IndexedImage:
    image_id: int
    width: int
    height: int
    taken_ts: float | None  # EXIF date taken, POSIX seconds
    terms: dict[str, list[str]]  # field (FIELD_WEIGHTS) → its terms
    hashes: npt.NDArray[np.uint64]
    descriptor: npt.NDArray[np.float32]


class _Column:
    """A numpy array that grows by doubling; ``view`` is the filled part."""

    def __init__(self, dtype: Any, width: int = 0) -> None:
        self._width = width
        shape: tuple[int, ...] = (1024, width) if width else (1024,)
        self._data = np.zeros(shape, dtype=dtype)
        self.size = 0

    def append(self, value: Any) -> None:
        if self.size == len(self._data):
            grown = np.zeros((len(self._data) * 2, *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self.size] = self._data
            self._data = grown
        self._data[self.size] = value
        self.size += 1

    def view(self) -> npt.NDArray[Any]:
        return self._data[: self.size]

    def set(self, index: int, value: Any) -> None:
        self._data[index] = value

    def nbytes(self) -> int:
        return int(self._data.nbytes)


class LibraryIndex:
    def __init__(self) -> None:
        self._slot_of: dict[int, int] = {}
        self.ids = _Column(np.int64)
        self.alive = _Column(np.bool_)
        self.width = _Column(np.int32)
        self.height = _Column(np.int32)
        self.taken = _Column(np.float64)  # NaN when unknown
        self.hashes = _Column(np.uint64, HASHES_PER_IMAGE)
        self.descriptors = _Column(np.float32, DESCRIPTOR_DIMS)
        self._doc_len = _Column(np.float32)
        self._postings: dict[str, tuple[array[int], array[float]]] = {}
        self._total_len = 0.0
        self.live = 0

    # --- building -------------------------------------------------------------

    def add(self, images: Iterable[IndexedImage]) -> None:
        """Add images; one already indexed (same id) is replaced."""
        for image in images:
            old = self._slot_of.get(image.image_id)
            if old is not None:
                self.alive.set(old, False)
                self._total_len -= float(self._doc_len.view()[old])
                self.live -= 1
            slot = self.ids.size
            self._slot_of[image.image_id] = slot
            self.ids.append(image.image_id)
            self.alive.append(True)
            self.width.append(image.width)
            self.height.append(image.height)
            self.taken.append(np.nan if image.taken_ts is None else image.taken_ts)
            self.hashes.append(image.hashes[:HASHES_PER_IMAGE])
            self.descriptors.append(image.descriptor[:DESCRIPTOR_DIMS])
            length = self._add_terms(slot, image.terms)
            self._doc_len.append(length)
            self._total_len += length
            self.live += 1

    def _add_terms(self, slot: int, terms: dict[str, list[str]]) -> float:
        weighted: dict[str, float] = {}
        length = 0.0
        for field, field_terms in terms.items():
            weight = FIELD_WEIGHTS[field]
            length += weight * len(field_terms)
            for term in field_terms:
                weighted[term] = weighted.get(term, 0.0) + weight
        for term, tf in weighted.items():
            slots, tfs = self._postings.setdefault(term, (array("i"), array("f")))
            slots.append(slot)
            tfs.append(tf)
        return length

    def __len__(self) -> int:
        return self.live

    def slot_of(self, image_id: int) -> int | None:
        """The image's current slot, or None when it is not indexed."""
        return self._slot_of.get(image_id)

    def memory_bytes(self) -> int:
        """About what the index holds, for the bench (numpy arrays and posting lists)."""
        columns = (self.ids, self.alive, self.width, self.height, self.taken)
        total = sum(c.nbytes() for c in (*columns, self.hashes, self.descriptors, self._doc_len))
        for term, (slots, tfs) in self._postings.items():
            total += slots.itemsize * len(slots) + tfs.itemsize * len(tfs) + len(term) + 200
        return total

    # --- text -----------------------------------------------------------------

    def text_scores(
        self, terms: list[str]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], float]:
        """BM25F: (slots that match any term, their scores, the best score possible).

        The best score possible (every term matched with unbounded frequency)
        turns a score into a 0–1 relevance a person can read.
        """
        slot_count = self.ids.size
        if not slot_count or not self.live:
            return np.zeros(0, np.int64), np.zeros(0, np.float32), 0.0
        scores = np.zeros(slot_count, dtype=np.float32)
        doc_len = self._doc_len.view()
        avg_len = max(self._total_len / self.live, 1e-6)
        best = 0.0
        for term in dict.fromkeys(terms):
            posting = self._postings.get(term)
            if posting is None:
                continue
            slots = np.frombuffer(posting[0], dtype=np.int32)
            tfs = np.frombuffer(posting[1], dtype=np.float32)
            df = len(slots)
            idf = math.log(1.0 + (self.live - df + 0.5) / (df + 0.5))
            norm = K1 * (1.0 - B + B * doc_len[slots] / avg_len)
            scores[slots] += idf * tfs * (K1 + 1.0) / (tfs + norm)
            best += idf * (K1 + 1.0)
        matched = np.flatnonzero((scores > 0) & self.alive.view())
        return matched, scores[matched], best

    # --- images ---------------------------------------------------------------

    def scan(
        self, query_hashes: npt.NDArray[np.uint64], query_descriptors: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
        """Per slot: the smallest Hamming distance between any query hash and any window
        hash, and the best cosine similarity with any query descriptor.

        Hashes go in blocks of 4096 images (~1 MB), so the XOR/popcount
        temporaries stay in cache. The similarity is one einsum per query
        descriptor: numpy's own single-threaded loop, because a BLAS product
        spread over threads ran 2-3× slower on this shared 2-core machine
        (thread hand-offs under load), for a scan that is memory-bound anyway.
        """
        windows = self.hashes.view()
        descriptors = self.descriptors.view()
        distances = np.full(len(windows), 64, dtype=np.uint8)
        for start in range(0, len(windows), _BLOCK):
            block = windows[start : start + _BLOCK]
            out = distances[start : start + _BLOCK]
            for query_hash in query_hashes:
                np.minimum(out, np.bitwise_count(block ^ query_hash).min(axis=1), out=out)
        similarity = np.full(len(descriptors), -1.0, dtype=np.float32)
        for query in query_descriptors:
            np.maximum(similarity, np.einsum("ij,j->i", descriptors, query), out=similarity)
        return distances, similarity
