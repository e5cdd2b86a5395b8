"""Which embedding backend the library uses, and the vectors of queries. Reads only.

This is the only place that turns the EMBEDDING_* settings into a backend,
so the label a person sees ("… (offline emulator)") and the backend that
answers can never disagree. With EMBEDDING_BACKEND unset or "none" every
function here returns None and the library behaves as it does without one.

Two clients per remote backend: one for imports (EMBEDDING_TIMEOUT_SECONDS,
three tries) and one for a search a person is waiting for
(EMBEDDING_QUERY_TIMEOUT_SECONDS, two tries). They share one rate limiter,
so together they respect OpenSearch's QPS limit in this process.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from django.conf import settings

from webapp.library.models import LibraryEmbedding
from webapp.providers.dashscope_embedding import DashScopeEmbeddingClient
from webapp.providers.embeddings import EmbeddingBackend, RateLimiter
from webapp.providers.errors import ProviderError
from webapp.providers.local_clip import LocalClipBackend
from webapp.providers.opensearch_embedding import OpenSearchEmbeddingClient

EMULATOR_API_KEY = "emulator"  # the emulator accepts any bearer token; this is not a secret
QUERY_MAX_TRIES = 2
QUERY_CACHE_SIZE = 256


@dataclass(frozen=True)
class EmbeddingInfo:
    """What a person is told about the configured backend, and the name its vectors carry."""

    backend: str  # "opensearch", "dashscope" or "local"
    model_name: str  # stored with every vector; "" when the backend could not be built
    label: str
    emulated: bool
    dimensions: int
    problem: str = ""  # a sentence when the backend cannot work (a bad model folder)


@dataclass(frozen=True)
class _Config:
    backend: str
    host: str
    api_key: str
    model: str
    workspace: str
    qps: int
    emulated: bool
    local_folder: str
    local_threads: int
    timeout: float
    query_timeout: float


def _config() -> _Config | None:
    backend = getattr(settings, "EMBEDDING_BACKEND", "none")
    if backend == "opensearch":
        emulated = settings.OPENSEARCH_EMBEDDING_EMULATED
        return _Config(
            backend=backend,
            host=settings.OPENSEARCH_EMBEDDING_EFFECTIVE_HOST,
            api_key=EMULATOR_API_KEY if emulated else settings.OPENSEARCH_EMBEDDING_API_KEY,
            model=settings.OPENSEARCH_EMBEDDING_MODEL,
            workspace=settings.OPENSEARCH_EMBEDDING_WORKSPACE,
            qps=settings.OPENSEARCH_EMBEDDING_QPS,
            emulated=emulated,
            local_folder="",
            local_threads=0,
            timeout=settings.EMBEDDING_TIMEOUT_SECONDS,
            query_timeout=settings.EMBEDDING_QUERY_TIMEOUT_SECONDS,
        )
    if backend == "dashscope":
        emulated = settings.DASHSCOPE_EMBEDDING_EMULATED
        return _Config(
            backend=backend,
            host=settings.DASHSCOPE_EMBEDDING_EFFECTIVE_BASE_URL,
            api_key=EMULATOR_API_KEY if emulated else settings.DASHSCOPE_EMBEDDING_API_KEY,
            model=settings.DASHSCOPE_EMBEDDING_MODEL,
            workspace="",
            qps=0,
            emulated=emulated,
            local_folder="",
            local_threads=0,
            timeout=settings.EMBEDDING_TIMEOUT_SECONDS,
            query_timeout=settings.EMBEDDING_QUERY_TIMEOUT_SECONDS,
        )
    if backend == "local":
        return _Config(
            backend=backend,
            host="",
            api_key="",
            model="",
            workspace="",
            qps=0,
            emulated=False,
            local_folder=settings.LOCAL_CLIP_MODEL,
            local_threads=settings.LOCAL_CLIP_THREADS,
            timeout=0.0,
            query_timeout=0.0,
        )
    return None


def embedding_backend(*, for_query: bool = False) -> EmbeddingBackend | None:
    """The configured backend, or None. Raises ProviderError when it cannot be built
    (a local model folder with files missing)."""
    config = _config()
    if config is None:
        return None
    return _backend(config, for_query)


@lru_cache(maxsize=8)
def _limiter(host: str, qps: int) -> RateLimiter | None:
    return RateLimiter(qps) if qps else None


@lru_cache(maxsize=8)
def _local(folder: str, threads: int) -> LocalClipBackend:
    return LocalClipBackend(folder, threads=threads)


@lru_cache(maxsize=16)
def _backend(config: _Config, for_query: bool) -> EmbeddingBackend:
    timeout = config.query_timeout if for_query else config.timeout
    tries = QUERY_MAX_TRIES if for_query else 3
    if config.backend == "opensearch":
        return OpenSearchEmbeddingClient(
            host=config.host,
            api_key=config.api_key,
            model=config.model,
            workspace=config.workspace,
            timeout=timeout,
            max_tries=tries,
            limiter=_limiter(config.host, config.qps),
        )
    if config.backend == "dashscope":
        return DashScopeEmbeddingClient(
            base_url=config.host,
            api_key=config.api_key,
            model=config.model,
            timeout=timeout,
            max_tries=tries,
        )
    return _local(config.local_folder, config.local_threads)  # one loaded model per process


def embedding_info() -> EmbeddingInfo | None:
    """The configured backend as a person should see it, or None when there is none."""
    config = _config()
    if config is None:
        return None
    names = {"opensearch": "OpenSearch", "dashscope": "DashScope", "local": "Local CLIP model"}
    try:
        backend = _backend(config, False)
    except ProviderError as exc:
        return EmbeddingInfo(config.backend, "", names[config.backend], False, 0, exc.message)
    if config.backend == "local":
        label = f"{names['local']} {config.local_folder.rstrip('/').rsplit('/', 1)[-1]}"
    else:
        label = f"{names[config.backend]} {config.model}"
    if config.emulated:
        label += " (offline emulator)"
    return EmbeddingInfo(
        backend=config.backend,
        model_name=backend.name,
        label=label,
        emulated=config.emulated,
        dimensions=backend.dimensions,
    )


# --- query vectors --------------------------------------------------------------------


class _QueryCache:
    """The last few query vectors: paging through results must not call the API again."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str, str], npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> npt.NDArray[np.float32] | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
            return vector

    def put(self, key: tuple[str, str, str], vector: npt.NDArray[np.float32]) -> None:
        with self._lock:
            self._items[key] = vector
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_query_cache = _QueryCache(QUERY_CACHE_SIZE)


def query_cache_clear() -> None:
    _query_cache.clear()


def query_text_vector(backend: EmbeddingBackend, text: str) -> npt.NDArray[np.float32]:
    """The text's vector (cached). Raises ProviderError."""
    key = (backend.name, "text", text)
    vector = _query_cache.get(key)
    if vector is None:
        vector = np.asarray(backend.embed_texts([text])[0], dtype=np.float32)
        _query_cache.put(key, vector)
    return vector


def query_image_vector(backend: EmbeddingBackend, image: bytes) -> npt.NDArray[np.float32]:
    """The image's vector (cached by content). Raises ProviderError."""
    key = (backend.name, "image", hashlib.sha256(image).hexdigest())
    vector = _query_cache.get(key)
    if vector is None:
        vector = np.asarray(backend.embed_images([image])[0], dtype=np.float32)
        _query_cache.put(key, vector)
    return vector


# --- for the library page -------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddingStatus:
    info: EmbeddingInfo
    embedded: int  # library images with a vector of the configured model


def embedding_status() -> EmbeddingStatus | None:
    """The backend and how many images it has embedded, or None without a backend."""
    info = embedding_info()
    if info is None:
        return None
    embedded = (
        LibraryEmbedding.objects.filter(model=info.model_name).count() if info.model_name else 0
    )
    return EmbeddingStatus(info, embedded)
