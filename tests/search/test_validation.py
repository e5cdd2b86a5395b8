from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from webapp.search.validation import clean_exclude_sites, clean_query


def test_it_trims_and_collapses_spaces() -> None:
    assert clean_query("  red   panda  ") == "red panda"


@pytest.mark.parametrize("raw", ["", "   ", None, "\t\n"])
def test_it_rejects_an_empty_query(raw: str | None) -> None:
    with pytest.raises(ValidationError, match="Type something"):
        clean_query(raw)


def test_it_accepts_exactly_50_characters() -> None:
    assert len(clean_query("x" * 50)) == 50


def test_it_rejects_a_query_over_50_characters() -> None:
    with pytest.raises(ValidationError, match="50 characters"):
        clean_query("x" * 51)


def test_it_counts_characters_after_trimming() -> None:
    assert clean_query("   " + "y" * 50 + "   ") == "y" * 50


@pytest.mark.parametrize("raw", ["lion\x00", "li\x07on", "lion\u200b", "\u202elion", "a\x7fb"])
def test_it_rejects_control_and_invisible_characters(raw: str) -> None:
    with pytest.raises(ValidationError, match="control"):
        clean_query(raw)


def test_chinese_queries_are_accepted_like_english() -> None:
    assert clean_query(" 狮子 ") == "狮子"
    assert clean_query("狮" * 50) == "狮" * 50
    with pytest.raises(ValidationError):
        clean_query("狮" * 51)


def test_exclude_sites_are_normalised() -> None:
    assert clean_exclude_sites("Weibo.com, https://www.360doc.com/path  weibo.com") == [
        "weibo.com",
        "www.360doc.com",
    ]


def test_exclude_sites_may_be_empty() -> None:
    assert clean_exclude_sites("") == []
    assert clean_exclude_sites(None) == []


@pytest.mark.parametrize("raw", ["not a site!", "localhost", "exa_mple.com", "-bad.com"])
def test_exclude_sites_reject_junk(raw: str) -> None:
    with pytest.raises(ValidationError):
        clean_exclude_sites(raw)


def test_exclude_sites_are_capped() -> None:
    with pytest.raises(ValidationError, match="at most"):
        clean_exclude_sites(",".join(f"s{i}.com" for i in range(21)))
