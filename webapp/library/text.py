"""Turning titles, descriptions, tags and file names into search terms. No Django.

* Latin text: NFKC, lower case, runs of letters and digits, a light plural
  stemmer ("cats" → "cat", "berries" → "berry") and a short stop list.
* Chinese: jieba's search mode (it also emits the shorter words inside long
  ones: "宇航员" → 宇航, 宇航员), plus every ideograph as its own term in a
  separate namespace ("#猫"). jieba keeps "小猫" as one word, so without the
  characters "猫" would not find "一只小猫"; the character terms sit in their
  own, lightly weighted field, so a whole-word match still ranks first.

jieba loads its dictionary from its own package (no download) the first time
Chinese text is seen, which takes about a second; import and the first
Chinese query pay that once per process.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from typing import Any

TOKENIZER_VERSION = 1

_RUN = re.compile(r"[0-9a-z]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CHAR_PREFIX = "#"

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "the",
        "this",
        "to",
        "with",
        "的",
        "了",
        "在",
        "是",
        "和",
        "与",
        "及",
        "着",
        "上",
        "中",
        "里",
        "一个",
        "一只",
        "一张",
    ]
)

_jieba: Any = None
_jieba_lock = threading.Lock()


def _segmenter() -> Any:
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)  # it prints its cache path on load
                jieba.initialize()
                _jieba = jieba
    return _jieba


def warm_up() -> None:
    """Load jieba's dictionary now (about a second) rather than on the first Chinese query."""
    _segmenter()


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """The word terms of ``text`` (Latin words and jieba's Chinese words), stop words removed."""
    normal = unicodedata.normalize("NFKC", text).lower()
    out: list[str] = []
    for match in _RUN.finditer(normal):
        run = match.group()
        if _CJK.match(run):
            out.extend(w for w in _segmenter().lcut_for_search(run) if w.strip())
        else:
            out.append(_stem(run))
    return [w for w in out if w not in STOP_WORDS]


def characters(text: str) -> list[str]:
    """Every Chinese ideograph of ``text`` as a "#x" term."""
    normal = unicodedata.normalize("NFKC", text)
    return [CHAR_PREFIX + c for c in _CJK.findall(normal) if c not in STOP_WORDS]


def file_name_words(name: str) -> str:
    """ "red_fox-2019 (2).JPG" → "red fox 2019 2": the stem, with separators as spaces."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return " ".join(re.sub(r"[_\-.()\[\]+]+", " ", stem).split())
