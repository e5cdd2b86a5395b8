"""Searching the library: by text, by image, or both. Reads only.

Each process keeps one in-memory LibraryIndex (index.py). Before every search
it reads the single LibraryIndexState row (one primary-key lookup) and loads
only the rows written since it last looked, so an import in the worker is
searchable from the web process at once, without any message between them.

Scores are 0–1 and mean:
* text: BM25F score / the best score the query could reach; hits under
  ``TEXT_CUTOFF`` × the best hit's score are dropped, so a long tail of
  one-common-word matches is not shown;
* image: 0.55 × hash similarity (1 − Hamming distance / 32, floored at 0)
  + 0.45 × descriptor cosine. ``near_duplicate`` is a hash distance of at most
  ``NEAR_DUPLICATE_BITS``, or a borderline distance that the descriptor
  confirms. Images that are neither near-duplicates nor at least
  ``SIMILAR_MIN`` alike by descriptor are not shown, except the
  ``LOOK_ALIKES_SHOWN`` most alike ones above ``SIMILAR_FLOOR``;
* text and image together: the mean of the two, each normalised to its best
  hit, plus ``NEAR_DUPLICATE_BONUS`` for a near-duplicate, so a copy of the
  query image that also matches the words comes first.

With an embedding backend (EMBEDDING_BACKEND, webapp/library/embedding.py)
the query's words and picture are embedded too, and every image's vector is
compared with them (exact cosine, vectors.py). A similarity becomes 0–1 as
(cosine − the library's median) / (best − median), so it means the same for
every model, and it is blended in with weight ``EMBEDDING_WEIGHT`` (w):

* score = (1 − w) × the score above (text: relative to the best hit) + w × semantic;
* an image without a vector yet keeps its score (no penalty, no bonus);
* images that match on meaning alone join the results when their semantic
  score is at least ``SEMANTIC_MIN_RELATIVE`` (at most
  ``SEMANTIC_MAX_CANDIDATES`` of them): that is what lets "a cat on a sofa"
  find a photo titled IMG_2041.

Without a backend nothing of this runs and results are exactly as above. If
the backend fails during a search, the search still answers without it and
``LibraryResults.notice`` says why.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from PIL import Image

from webapp.imaging.thumbnails import make_thumbnail
from webapp.library import text
from webapp.library.embedding import (
    EmbeddingInfo,
    embedding_backend,
    embedding_info,
    query_image_vector,
    query_text_vector,
)
from webapp.library.features import (
    QueryFeatures,
    descriptor_from_bytes,
    hashes_from_bytes,
    query_features,
)
from webapp.library.index import IndexedImage, LibraryIndex
from webapp.library.models import LibraryEmbedding, LibraryImage, LibraryIndexState
from webapp.library.vectors import SlotVectors, decode_vector
from webapp.providers.errors import ProviderError

TEXT_CUTOFF = 0.3
NEAR_DUPLICATE_BITS = 10
BORDERLINE_BITS = 16
BORDERLINE_MIN_SIMILARITY = 0.82
SIMILAR_MIN = 0.8
# Below SIMILAR_MIN, the few best look-alikes are still shown, down to this floor.
LOOK_ALIKES_SHOWN = 8
SIMILAR_FLOOR = 0.5
NEAR_DUPLICATE_BONUS = 0.25
MAX_LIMIT = 200
ORIENTATIONS = ("landscape", "portrait", "square")
SORTS = ("relevance", "date", "size")
SEMANTIC_MIN_RELATIVE = 0.5
SEMANTIC_MAX_CANDIDATES = 200


@dataclass(frozen=True)
class LibraryFilters:
    """The foundation's filters: size, shape, date taken; and the order."""

    min_side: int = 0
    orientation: str = ""  # "", or one of ORIENTATIONS
    taken_after: date | None = None
    taken_before: date | None = None
    sort: str = "relevance"  # one of SORTS


@dataclass(frozen=True)
class LibraryHit:
    image_id: int
    score: float  # 0–1, see the module docstring
    near_duplicate: bool
    title: str
    width: int
    height: int
    taken_at: datetime | None
    text_score: float | None = None
    image_score: float | None = None
    hash_distance: int | None = None  # bits of 64, for image queries
    # Cosine with the query's embedding (the words', when there are words), when the
    # image has a vector and an embedding backend is configured.
    semantic_score: float | None = None


@dataclass(frozen=True)
class LibraryResults:
    hits: list[LibraryHit]
    total: int  # how many passed the cut-off and the filters, over all pages
    offset: int
    limit: int
    took_ms: float
    semantic: bool = False  # an embedding took part in the ranking
    notice: str = ""  # why semantic matching was left out of this search, when it failed

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.hits) < self.total


class QueryImageError(ValueError):
    """The query image could not be read; ``message`` is a sentence for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- the per-process index ---------------------------------------------------------------


@dataclass
class _Loaded:
    index: LibraryIndex
    seq: int
    removals: int
    model_name: str = ""  # the embedding model whose vectors ``vectors`` holds
    vectors: SlotVectors | None = None
    vector_seq: int = -1  # LibraryIndexState.seq up to which vectors are loaded


_lock = threading.Lock()
_loaded: _Loaded | None = None


def library_index_reset() -> None:
    """Forget this process's index; the next search rebuilds it (tests, after a restore)."""
    global _loaded
    with _lock:
        _loaded = None


def _indexed(row: tuple[Any, ...]) -> IndexedImage:
    image_id, width, height, taken_at, terms, hashes, descriptor = row
    return IndexedImage(
        image_id=int(image_id),
        width=int(width),
        height=int(height),
        taken_ts=taken_at.timestamp() if taken_at else None,
        terms=terms,
        hashes=hashes_from_bytes(bytes(hashes)),
        descriptor=descriptor_from_bytes(bytes(descriptor)),
    )


def _current_index() -> LibraryIndex:
    """This process's index, caught up with the database. Call with _lock held."""
    return _current(_usable_info()).index


def _usable_info() -> EmbeddingInfo | None:
    info = embedding_info()
    return info if info is not None and not info.problem else None


def _current(info: EmbeddingInfo | None) -> _Loaded:
    """This process's index and vectors, caught up with the database. Call with _lock held."""
    global _loaded
    state = LibraryIndexState.objects.filter(pk=1).values_list("seq", "removals").first()
    seq, removals = state or (0, 0)
    model_name = info.model_name if info is not None else ""
    if (
        _loaded is None
        or removals != _loaded.removals
        or seq < _loaded.seq
        or model_name != _loaded.model_name
    ):
        text.warm_up()  # a new index is a slow query anyway; the first Chinese one needn't be
        vectors = SlotVectors(info.dimensions) if info is not None else None
        _loaded = _Loaded(LibraryIndex(), -1, removals, model_name, vectors)
    if seq != _loaded.seq:
        rows = (
            LibraryImage.objects.filter(index_seq__gt=_loaded.seq)
            .order_by("index_seq", "pk")
            .values_list(
                "index_seq", "pk", "width", "height", "taken_at", "terms", "hashes", "descriptor"
            )
        )
        # Rows that commit after the state was read come along too: remember the
        # newest seq actually loaded, so they are not loaded twice.
        newest = seq
        batch: list[IndexedImage] = []
        for row in rows.iterator(chunk_size=2000):
            newest = max(newest, int(row[0]))
            batch.append(_indexed(row[1:]))
            if len(batch) >= 2000:
                _add_images(_loaded, batch)
                batch = []
        _add_images(_loaded, batch)
        _loaded.seq = newest
    if _loaded.vectors is not None and _loaded.vector_seq != seq:
        _load_vectors(_loaded, seq)
    return _loaded


def _add_images(loaded: _Loaded, batch: list[IndexedImage]) -> None:
    """Index the images; an edited image's vector follows it to its new slot."""
    vectors, index = loaded.vectors, loaded.index
    moved: list[tuple[int, int]] = []
    if vectors is not None:
        for image in batch:
            old = index.slot_of(image.image_id)
            if old is not None and vectors.has(old):
                moved.append((image.image_id, old))
    index.add(batch)
    for image_id, old in moved:
        new = index.slot_of(image_id)
        if vectors is not None and new is not None:
            vectors.move(old, new)


def _load_vectors(loaded: _Loaded, upto: int) -> None:
    """Vectors of the configured model written since the last look, up to ``upto``.

    Bounded by the state's seq read before the images were loaded: every
    transaction up to it has committed (the state row's lock orders them), so
    none can be missed, and every image a vector belongs to is indexed by now.
    """
    vectors = loaded.vectors
    assert vectors is not None
    rows = LibraryEmbedding.objects.filter(
        model=loaded.model_name, index_seq__gt=loaded.vector_seq, index_seq__lte=upto
    ).values_list("image_id", "vector")
    for image_id, raw in rows.iterator(chunk_size=2000):
        slot = loaded.index.slot_of(int(image_id))
        vector = decode_vector(bytes(raw), vectors.dimensions)
        if slot is not None and vector is not None:
            vectors.set(slot, vector)
    loaded.vector_seq = upto


def library_index_size() -> int:
    with _lock:
        return len(_current_index())


# --- filters, order, paging -----------------------------------------------------------


def _filter_mask(
    index: LibraryIndex, slots: npt.NDArray[np.int64], filters: LibraryFilters
) -> npt.NDArray[np.bool_]:
    width = index.width.view()[slots]
    height = index.height.view()[slots]
    keep = np.ones(len(slots), dtype=bool)
    if filters.min_side:
        keep &= np.minimum(width, height) >= filters.min_side
    if filters.orientation in ORIENTATIONS:
        longest = np.maximum(width, height)
        square = np.abs(width - height) <= 0.05 * longest
        keep &= {
            "square": square,
            "landscape": ~square & (width > height),
            "portrait": ~square & (width < height),
        }[filters.orientation]
    taken = index.taken.view()[slots]
    if filters.taken_after:
        start = datetime.combine(filters.taken_after, dt_time.min, tzinfo=UTC).timestamp()
        keep &= taken >= start  # NaN (no date) compares False: undated images drop out
    if filters.taken_before:
        end = datetime.combine(filters.taken_before, dt_time.max, tzinfo=UTC).timestamp()
        keep &= taken <= end
    return keep


def _ordered(
    index: LibraryIndex,
    slots: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    filters: LibraryFilters,
) -> npt.NDArray[np.int64]:
    """Positions into ``slots`` in display order; ties keep the better score first."""
    if filters.sort == "date":
        taken = index.taken.view()[slots]
        undated = np.isnan(taken)
        return np.lexsort((-scores, -np.nan_to_num(taken), undated)).astype(np.int64)
    if filters.sort == "size":
        area = index.width.view()[slots].astype(np.int64) * index.height.view()[slots]
        return np.lexsort((-scores, -area)).astype(np.int64)
    return np.argsort(-scores, kind="stable").astype(np.int64)


def _page(
    index: LibraryIndex,
    slots: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    filters: LibraryFilters,
    offset: int,
    limit: int,
) -> tuple[list[int], list[int], int]:
    """(chosen positions into slots, their image ids, total) for one page."""
    keep = _filter_mask(index, slots, filters)
    kept = np.flatnonzero(keep)
    slots, scores = slots[kept], scores[kept]
    total = len(slots)
    if filters.sort == "relevance" and total > offset + limit:
        # Only the page's top needs sorting: argpartition then sort the few.
        top = np.argpartition(-scores, offset + limit - 1)[: offset + limit]
        order = top[np.argsort(-scores[top], kind="stable")]
    else:
        order = _ordered(index, slots, scores, filters)
    chosen = order[offset : offset + limit]
    ids = index.ids.view()[slots[chosen]].tolist()
    return kept[chosen].tolist(), ids, total


def _clamp(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, MAX_LIMIT)), max(0, offset)


def _rows(ids: list[int]) -> dict[int, LibraryImage]:
    fields = ("pk", "title", "width", "height", "taken_at")
    return {row.pk: row for row in LibraryImage.objects.filter(pk__in=ids).only(*fields)}


# --- text ------------------------------------------------------------------------


def _query_terms(query: str) -> list[str]:
    return text.words(query) + text.characters(query)


def _text_candidates(
    index: LibraryIndex, query: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(slots, relevance 0–1, score relative to the best hit) above the cut-off."""
    slots, scores, best_possible = index.text_scores(_query_terms(query))
    if not len(slots) or best_possible <= 0:
        return slots, scores, scores
    top = float(scores.max())
    keep = scores >= TEXT_CUTOFF * top
    slots, scores = slots[keep], scores[keep]
    return slots, (scores / best_possible).astype(np.float32), (scores / top).astype(np.float32)


def library_search_text(
    *, query: str, limit: int = 50, offset: int = 0, filters: LibraryFilters | None = None
) -> LibraryResults:
    """Images whose title, description (any language), tags or file name match ``query``."""
    started = time.perf_counter()
    limit, offset = _clamp(limit, offset)
    filters = filters or LibraryFilters()
    semantic = _semantic_query(text=query)
    if semantic is not None and semantic.usable:
        return _search_semantic(semantic, query, None, limit, offset, filters, started)
    with _lock:
        index = _current_index()
        slots, relevance, _ = _text_candidates(index, query)
        positions, ids, total = _page(index, slots, relevance, filters, offset, limit)
    rows = _rows(ids)
    hits = [
        _hit(rows[image_id], score=float(relevance[pos]), text_score=float(relevance[pos]))
        for pos, image_id in zip(positions, ids, strict=True)
        if image_id in rows  # deleted meanwhile
    ]
    took = (time.perf_counter() - started) * 1000
    return LibraryResults(hits, total, offset, limit, took, notice=_notice(semantic))


def _hit(row: LibraryImage, *, score: float, **extra: object) -> LibraryHit:
    return LibraryHit(
        image_id=row.pk,
        score=round(score, 4),
        near_duplicate=bool(extra.pop("near_duplicate", False)),
        title=row.title,
        width=row.width,
        height=row.height,
        taken_at=row.taken_at,
        **extra,  # type: ignore[arg-type]
    )


# --- image -----------------------------------------------------------------------


def query_image_features(image_bytes: bytes) -> QueryFeatures:
    """Decode a query image exactly as imported images are (the same 320 px thumbnail)."""
    return _thumbnail_features(query_thumbnail(image_bytes))


def query_thumbnail(image_bytes: bytes) -> bytes:
    """The 320 px JPEG of a query image: what its features and its embedding are made from,
    as for imported images. Raises QueryImageError."""
    from webapp.imaging.thumbnails import ImageTooLarge, NotAnImage

    try:
        return make_thumbnail(image_bytes, max_side=320).data
    except (NotAnImage, ImageTooLarge) as exc:
        raise QueryImageError(exc.message) from exc


def _thumbnail_features(thumbnail: bytes) -> QueryFeatures:
    with Image.open(io.BytesIO(thumbnail)) as small:
        return query_features(small.convert("RGB"))


@dataclass(frozen=True)
class _ImageScores:
    slots: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]
    near: npt.NDArray[np.bool_]
    distances: npt.NDArray[np.uint8]


def _best_look_alikes(
    index: LibraryIndex, similarity: npt.NDArray[np.float32]
) -> npt.NDArray[np.bool_]:
    """The LOOK_ALIKES_SHOWN most alike images, if at least SIMILAR_FLOOR alike.

    A small or varied library may hold nothing SIMILAR_MIN alike; a person who
    searches by a picture still expects the closest few, not only its copies.
    argpartition keeps this linear, however big the library.
    """
    chosen = np.zeros(similarity.shape, bool)
    alive_similarity = np.where(index.alive.view(), similarity, -1.0)
    count = min(LOOK_ALIKES_SHOWN, alive_similarity.size)
    if count == 0:
        return chosen
    best = np.argpartition(-alive_similarity, count - 1)[:count]
    chosen[best[alive_similarity[best] >= SIMILAR_FLOOR]] = True
    return chosen


def _image_candidates(
    index: LibraryIndex,
    features: QueryFeatures,
    extra_slots: npt.NDArray[np.int64] | None = None,
    *,
    look_alikes: bool = True,
) -> _ImageScores:
    """Near-duplicates and look-alikes; ``extra_slots`` (semantic matches) join them too."""
    if not index.ids.size:
        empty = np.zeros(0, np.int64)
        return _ImageScores(
            empty, np.zeros(0, np.float32), np.zeros(0, bool), np.zeros(0, np.uint8)
        )
    distances, similarity = index.scan(features.hashes, features.descriptors)
    near = (distances <= NEAR_DUPLICATE_BITS) | (
        (distances <= BORDERLINE_BITS) & (similarity >= BORDERLINE_MIN_SIMILARITY)
    )
    keep = index.alive.view() & (near | (similarity >= SIMILAR_MIN))
    if look_alikes:
        keep |= _best_look_alikes(index, similarity)
    if extra_slots is not None and len(extra_slots):
        keep[extra_slots] = True  # alive: semantic candidates are chosen among live slots
    slots = np.flatnonzero(keep)
    hash_similarity = np.clip(1.0 - distances[slots].astype(np.float32) / 32.0, 0.0, 1.0)
    scores = (0.55 * hash_similarity + 0.45 * np.clip(similarity[slots], 0.0, 1.0)).astype(
        np.float32
    )
    return _ImageScores(slots, scores, near[slots], distances[slots])


def library_search_image(
    *, image_bytes: bytes, limit: int = 50, offset: int = 0, filters: LibraryFilters | None = None
) -> LibraryResults:
    """Copies, near-copies (also mirrored) and visually similar images of ``image_bytes``.

    Raises QueryImageError when the bytes are not a readable image.
    """
    started = time.perf_counter()
    thumbnail = query_thumbnail(image_bytes)
    features = _thumbnail_features(thumbnail)
    filters = filters or LibraryFilters()
    semantic = _semantic_query(thumbnail=thumbnail)
    if semantic is not None and semantic.usable:
        limit, offset = _clamp(limit, offset)
        return _search_semantic(semantic, "", features, limit, offset, filters, started)
    results = _search_features(features, limit, offset, filters, started)
    return replace(results, notice=_notice(semantic))


def _search_features(
    features: QueryFeatures, limit: int, offset: int, filters: LibraryFilters, started: float
) -> LibraryResults:
    limit, offset = _clamp(limit, offset)
    with _lock:
        index = _current_index()
        found = _image_candidates(index, features)
        # Near-duplicates first, whatever their score: a copy beats a look-alike.
        ranking = found.scores + found.near.astype(np.float32)
        positions, ids, total = _page(index, found.slots, ranking, filters, offset, limit)
    rows = _rows(ids)
    hits = [
        _hit(
            rows[image_id],
            score=float(found.scores[pos]),
            near_duplicate=bool(found.near[pos]),
            image_score=float(found.scores[pos]),
            hash_distance=int(found.distances[pos]),
        )
        for pos, image_id in zip(positions, ids, strict=True)
        if image_id in rows
    ]
    return LibraryResults(hits, total, offset, limit, (time.perf_counter() - started) * 1000)


# --- both ------------------------------------------------------------------------


def library_search(
    *,
    query: str = "",
    image_bytes: bytes | None = None,
    limit: int = 50,
    offset: int = 0,
    filters: LibraryFilters | None = None,
) -> LibraryResults:
    """Text, image, or both combined (see the module docstring for the blend)."""
    filters = filters or LibraryFilters()
    if not image_bytes:
        return library_search_text(query=query, limit=limit, offset=offset, filters=filters)
    if not query.strip():
        return library_search_image(
            image_bytes=image_bytes, limit=limit, offset=offset, filters=filters
        )
    started = time.perf_counter()
    thumbnail = query_thumbnail(image_bytes)
    features = _thumbnail_features(thumbnail)
    limit, offset = _clamp(limit, offset)
    semantic = _semantic_query(text=query, thumbnail=thumbnail)
    if semantic is not None and semantic.usable:
        return _search_semantic(semantic, query, features, limit, offset, filters, started)
    with _lock:
        index = _current_index()
        text_slots, relevance, text_relative = _text_candidates(index, query)
        # With words, they choose the candidates; the picture adds its copies
        # and close look-alikes, not the best of a poor lot.
        found = _image_candidates(index, features, look_alikes=False)
        size = index.ids.size
        text_part = np.zeros(size, np.float32)
        text_part[text_slots] = text_relative
        text_shown = np.full(size, np.nan, np.float32)
        text_shown[text_slots] = relevance
        image_part = np.zeros(size, np.float32)
        if len(found.scores):
            image_part[found.slots] = found.scores / float(found.scores.max())
        near = np.zeros(size, bool)
        near[found.slots] = found.near
        image_shown = np.full(size, np.nan, np.float32)
        image_shown[found.slots] = found.scores
        distance = np.full(size, 64, np.uint8)
        distance[found.slots] = found.distances
        slots = np.union1d(text_slots, found.slots).astype(np.int64)
        combined = (0.5 * text_part[slots] + 0.5 * image_part[slots]).astype(np.float32)
        ranking = (combined + NEAR_DUPLICATE_BONUS * near[slots]).astype(np.float32)
        positions, ids, total = _page(index, slots, ranking, filters, offset, limit)
        chosen = slots[positions] if positions else np.zeros(0, np.int64)
        details = [
            (
                float(combined[pos]),
                bool(near[slot]),
                _nan_to_none(text_shown[slot]),
                _nan_to_none(image_shown[slot]),
                int(distance[slot]),
            )
            for pos, slot in zip(positions, chosen.tolist(), strict=True)
        ]
    rows = _rows(ids)
    hits = [
        _hit(
            rows[image_id],
            score=score,
            near_duplicate=is_near,
            text_score=text_score,
            image_score=image_score,
            hash_distance=dist if image_score is not None else None,
        )
        for image_id, (score, is_near, text_score, image_score, dist) in zip(
            ids, details, strict=True
        )
        if image_id in rows
    ]
    took = (time.perf_counter() - started) * 1000
    return LibraryResults(hits, total, offset, limit, took, notice=_notice(semantic))


def _nan_to_none(value: np.float32) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)


# --- semantic matching (an embedding backend is configured) -----------------------------


@dataclass(frozen=True)
class _SemanticQuery:
    info: EmbeddingInfo | None
    text_vector: npt.NDArray[np.float32] | None = None
    image_vector: npt.NDArray[np.float32] | None = None
    notice: str = ""

    @property
    def usable(self) -> bool:
        return self.info is not None and (
            self.text_vector is not None or self.image_vector is not None
        )


def _semantic_query(*, text: str = "", thumbnail: bytes | None = None) -> _SemanticQuery | None:
    """The query's vectors, or None when no backend is configured.

    Called before the index lock is taken: a slow API must not hold up every
    other search in this process. A failure leaves that vector out and says
    why in ``notice``; the search then goes on without it.
    """
    info = embedding_info()
    if info is None:
        return None
    if info.problem:
        return _SemanticQuery(None, notice=f"Semantic matching is off: {info.problem}")
    problems: list[str] = []
    text_vector = image_vector = None
    try:
        backend = embedding_backend(for_query=True)
        assert backend is not None
        if text.strip():
            try:
                text_vector = query_text_vector(backend, text.strip())
            except ProviderError as exc:
                problems.append(exc.message)
        if thumbnail:
            try:
                image_vector = query_image_vector(backend, thumbnail)
            except ProviderError as exc:
                problems.append(exc.message)
    except ProviderError as exc:
        problems.append(exc.message)
    notice = f"Semantic matching was left out of this search: {problems[0]}" if problems else ""
    return _SemanticQuery(info, text_vector, image_vector, notice)


def _notice(semantic: _SemanticQuery | None) -> str:
    return semantic.notice if semantic is not None else ""


@dataclass(frozen=True)
class _SemanticScores:
    relative: npt.NDArray[np.float32]  # per slot, 0–1; 0 where there is no vector
    cosine: npt.NDArray[np.float32]  # per slot; NaN where there is no vector
    has: npt.NDArray[np.bool_]  # the slot is alive and has a vector
    candidates: npt.NDArray[np.int64]  # slots close enough to show on meaning alone


def _semantic_scores(loaded: _Loaded, query: npt.NDArray[np.float32]) -> _SemanticScores:
    assert loaded.vectors is not None
    size = loaded.index.ids.size
    cosine = loaded.vectors.scores(query, size)
    has = ~np.isnan(cosine) & loaded.index.alive.view()
    relative = np.zeros(size, np.float32)
    candidates = np.zeros(0, np.int64)
    if has.any():
        values = cosine[has]
        best, typical = float(values.max()), float(np.median(values))
        spread = best - typical
        if spread > 1e-6:
            relative[has] = np.clip((values - typical) / spread, 0.0, 1.0)
        else:  # one image, or all alike: each is as good as the best
            relative[has] = 1.0
        candidates = np.flatnonzero(has & (relative >= SEMANTIC_MIN_RELATIVE)).astype(np.int64)
        if len(candidates) > SEMANTIC_MAX_CANDIDATES:
            top = np.argpartition(-relative[candidates], SEMANTIC_MAX_CANDIDATES - 1)
            candidates = np.sort(candidates[top[:SEMANTIC_MAX_CANDIDATES]])
    return _SemanticScores(relative, cosine, has, candidates)


def _search_semantic(
    semantic: _SemanticQuery,
    query: str,
    features: QueryFeatures | None,
    limit: int,
    offset: int,
    filters: LibraryFilters | None,
    started: float,
) -> LibraryResults:
    """Text, image or both, with the embedding's similarity blended in (module docstring)."""
    filters = filters or LibraryFilters()
    weight = float(settings.EMBEDDING_WEIGHT)
    has_text = bool(query.strip())
    with _lock:
        loaded = _current(semantic.info)
        index = loaded.index
        size = index.ids.size
        parts = [
            _semantic_scores(loaded, vector)
            for vector in (semantic.text_vector, semantic.image_vector)
            if vector is not None
        ]
        has = parts[0].has
        semantic_part = np.mean([p.relative for p in parts], axis=0).astype(np.float32)
        cosine_shown = parts[0].cosine  # the words' when there are words
        candidates = np.unique(np.concatenate([p.candidates for p in parts])).astype(np.int64)

        text_slots = np.zeros(0, np.int64)
        text_part = np.zeros(size, np.float32)
        text_shown = np.full(size, np.nan, np.float32)
        if has_text:
            text_slots, relevance, text_relative = _text_candidates(index, query)
            text_part[text_slots] = text_relative
            text_shown[text_slots] = relevance
        image_slots = np.zeros(0, np.int64)
        image_part = np.zeros(size, np.float32)
        image_shown = np.full(size, np.nan, np.float32)
        near = np.zeros(size, bool)
        distance = np.full(size, 64, np.uint8)
        if features is not None:
            found = _image_candidates(
                index, features, extra_slots=candidates, look_alikes=not has_text
            )
            image_slots = found.slots
            image_shown[found.slots] = found.scores
            near[found.slots] = found.near
            distance[found.slots] = found.distances
            best = float(found.scores.max()) if len(found.scores) else 1.0
            # Together with words, each part is relative to its best hit, as without a backend.
            image_part[found.slots] = found.scores / best if has_text else found.scores
        if has_text and features is not None:
            base = 0.5 * text_part + 0.5 * image_part
        else:
            base = image_part if features is not None else text_part
        slots = np.union1d(np.union1d(text_slots, image_slots), candidates).astype(np.int64)
        own = base[slots]
        blended = (1.0 - weight) * own + weight * np.where(has[slots], semantic_part[slots], own)
        score = blended.astype(np.float32)
        # Near-duplicates first, as without a backend: always for a picture alone, by a
        # bonus when words count too.
        bonus = NEAR_DUPLICATE_BONUS if has_text else 1.0
        ranking = (score + bonus * near[slots]).astype(np.float32)
        positions, ids, total = _page(index, slots, ranking, filters, offset, limit)
        chosen = slots[positions] if positions else np.zeros(0, np.int64)
        details = [
            (
                float(score[pos]),
                bool(near[slot]),
                _nan_to_none(text_shown[slot]),
                _nan_to_none(image_shown[slot]),
                int(distance[slot]),
                _nan_to_none(cosine_shown[slot]),
            )
            for pos, slot in zip(positions, chosen.tolist(), strict=True)
        ]
    rows = _rows(ids)
    hits = [
        _hit(
            rows[image_id],
            score=value,
            near_duplicate=is_near,
            text_score=text_score,
            image_score=image_score,
            hash_distance=dist if image_score is not None else None,
            semantic_score=cosine,
        )
        for image_id, (value, is_near, text_score, image_score, dist, cosine) in zip(
            ids, details, strict=True
        )
        if image_id in rows
    ]
    took = (time.perf_counter() - started) * 1000
    return LibraryResults(hits, total, offset, limit, took, semantic=True, notice=semantic.notice)


# --- single images -----------------------------------------------------------------


def library_thumbnail_for(image_id: int) -> tuple[Path, int, int] | None:
    """(thumbnail file, its width, its height) of a library image, or None if there is none."""
    row = (
        LibraryImage.objects.filter(pk=image_id)
        .values_list("thumbnail_file", "thumb_width", "thumb_height")
        .first()
    )
    if row is None:
        return None
    path = Path(settings.MEDIA_ROOT) / row[0]
    return (path, row[1], row[2]) if path.is_file() else None
