from __future__ import annotations

import pytest
from django.test import override_settings

from webapp.search.query_rewrite import rewrite_query, shorten_query


def test_short_queries_are_sent_unchanged() -> None:
    assert shorten_query("lion") == "lion"
    assert shorten_query("x" * 30) == "x" * 30


def test_long_english_queries_drop_filler_words_first() -> None:
    query = "please show me some pictures of a lion resting in the tall grass"
    shortened = shorten_query(query)
    assert len(shortened) <= 30
    assert shortened.startswith("lion resting")
    assert "please" not in shortened


def test_the_rewrite_is_deterministic() -> None:
    query = "a very long query about mountains lakes and forests at dawn"
    assert shorten_query(query) == shorten_query(query)


def test_long_chinese_queries_are_cut_to_30_characters() -> None:
    query = "请帮我找一些" + "非洲草原上的雄狮在夕阳下休息" * 3
    shortened = shorten_query(query)
    assert 0 < len(shortened) <= 30
    assert "请帮我" not in shortened


def test_a_single_long_word_is_cut_not_dropped() -> None:
    assert shorten_query("x" * 45) == "x" * 30


def _shout(query: str) -> str:
    return query.upper()


def _empty(query: str) -> str:
    return ""


@pytest.mark.parametrize(
    ("rewriter", "expected"),
    [
        ("tests.search.test_query_rewrite._shout", "LION"),
        ("tests.search.test_query_rewrite._empty", "lion"),
    ],
)
def test_a_configured_rewriter_is_used_and_guarded(rewriter: str, expected: str) -> None:
    with override_settings(QUERY_REWRITER=rewriter):
        assert rewrite_query("lion") == expected
