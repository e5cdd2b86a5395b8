"""Shortening long queries before they go to IQS.

IQS accepts 1–50 characters but recommends 30 or fewer and says to rewrite
longer queries on the client side (api-docs 000). The default rewrite is
deterministic; a model-based one can be plugged in through the
QUERY_REWRITER setting (a dotted path to a callable ``(str) -> str``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

TARGET_CHARS = 30

# Words that carry little meaning in an image search. Dropping them first
# keeps the words that describe the picture.
_STOPWORDS_TEXT = """
a an the of and or in on at to for with by from into over under about as is are was were
be been being this that these those it its some any my your our their me i we you
please show find search images image pictures picture photos photo
"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_CJK_FILLER = re.compile(r"[的了吗呢吧啊呀请帮我找一些图片照片]")


def shorten_query(query: str) -> str:
    """Return the query unchanged when short enough, else a ≤30-character version."""
    if len(query) <= TARGET_CHARS:
        return query
    if _CJK.search(query) and " " not in query.strip():
        return _shorten_unspaced(query)
    return _shorten_words(query)


def _shorten_words(query: str) -> str:
    words = re.findall(r"[^\s,.;:!?()\[\]\"']+", query)
    kept = [word for word in words if word.lower() not in _STOPWORDS] or words
    shortened = ""
    for word in kept:
        candidate = f"{shortened} {word}".strip()
        if len(candidate) > TARGET_CHARS:
            break
        shortened = candidate
    # A single word longer than the target is cut rather than dropped.
    return shortened or kept[0][:TARGET_CHARS]


def _shorten_unspaced(query: str) -> str:
    compact = _CJK_FILLER.sub("", query) or query
    compact = re.sub(r"[\s，。、！？,.!?]+", "", compact) or compact
    return compact[:TARGET_CHARS]


@cache
def _configured_rewriter(path: str) -> Callable[[str], str]:
    rewriter: Callable[[str], str] = import_string(path)
    return rewriter


def rewrite_query(query: str) -> str:
    """Apply the configured rewriter, guaranteeing the result is 1–50 characters."""
    rewritten = _configured_rewriter(settings.QUERY_REWRITER)(query).strip()
    if not rewritten or len(rewritten) > 50:
        return shorten_query(query)
    return rewritten
