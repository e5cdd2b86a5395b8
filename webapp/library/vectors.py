"""The library's embedding vectors in memory, one row per index slot. No Django.

Why exact search in numpy, and why float32:

* Search must honour the library's filters (size, shape, date) and page
  through every match. An approximate index (HNSW: hnswlib, FAISS, usearch)
  returns a top-k before filtering, so a filter that drops most of that top-k
  leaves a short or empty page; an exact scan scores every image and the
  filters apply afterwards, exactly as for the text and picture scores.
* It is fast enough where this library lives: one (slots × dims) float32
  matrix-vector product through BLAS is ~3 ms at 10k images and ~20-25 ms at
  100k for 768 dimensions on this 2-core machine (the bench measures it).
  Past a few hundred thousand images an HNSW index for the unfiltered first
  page would be the next step.
* float32, not float16, in memory: numpy has no BLAS for float16, and
  converting at query time ran 20× slower than the float32 product here
  (0.5 s at 100k). The database keeps float16 (half the bytes, and no
  ranking difference: the error is ~1e-3 of a cosine). At 100k × 768 the
  matrix is 300 MB per process; the bench states it.

Rows follow LibraryIndex slots (a replaced image gets a new slot, and its
vector moves with it), so a score array lines up with every other column.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_FIRST_ROWS = 1024


class SlotVectors:
    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._data = np.zeros((_FIRST_ROWS, dimensions), dtype=np.float32)
        self._has = np.zeros(_FIRST_ROWS, dtype=np.bool_)
        self.count = 0  # slots that hold a vector

    def _grow(self, slot: int) -> None:
        if slot < len(self._data):
            return
        rows = len(self._data)
        while rows <= slot:
            rows *= 2
        data = np.zeros((rows, self.dimensions), dtype=np.float32)
        data[: len(self._data)] = self._data
        has = np.zeros(rows, dtype=np.bool_)
        has[: len(self._has)] = self._has
        self._data, self._has = data, has

    def set(self, slot: int, vector: npt.NDArray[np.float32]) -> None:
        self._grow(slot)
        if not self._has[slot]:
            self.count += 1
        self._data[slot] = vector
        self._has[slot] = True

    def has(self, slot: int) -> bool:
        return slot < len(self._has) and bool(self._has[slot])

    def move(self, old: int, new: int) -> None:
        """The image at ``old`` now lives at ``new`` (its metadata was edited)."""
        if not self.has(old):
            return
        self.set(new, self._data[old])
        self._has[old] = False
        self.count -= 1

    def scores(self, query: npt.NDArray[np.float32], slots: int) -> npt.NDArray[np.float32]:
        """Cosine similarity of ``query`` (unit length) with every slot's vector; NaN where
        a slot has none. ``slots`` is the index's slot count, which may exceed our rows."""
        out = np.full(slots, np.nan, dtype=np.float32)
        rows = min(slots, len(self._data))
        if rows:
            products = self._data[:rows] @ query.astype(np.float32)
            out[:rows] = np.where(self._has[:rows], products, np.nan)
        return out

    def nbytes(self) -> int:
        return int(self._data.nbytes + self._has.nbytes)


def decode_vector(raw: bytes, dimensions: int) -> npt.NDArray[np.float32] | None:
    """A stored float16 vector as float32, or None when it is not of ``dimensions``."""
    vector = np.frombuffer(raw, dtype="<f2")
    if len(vector) != dimensions:
        return None
    return vector.astype(np.float32)


def encode_vector(vector: list[float] | npt.NDArray[np.float32]) -> bytes:
    return np.asarray(vector, dtype="<f2").tobytes()
