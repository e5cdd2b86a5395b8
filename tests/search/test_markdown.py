from __future__ import annotations

from webapp.search.markdown import render_safe_markdown


def test_raw_html_is_escaped() -> None:
    html = render_safe_markdown('<script>alert(1)</script><img src=x onerror="y">')
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html


def test_simple_markdown_is_rendered() -> None:
    html = render_safe_markdown("These are **lions** and *cubs*.\n\n- one\n- two `x`\n\n1. a\n2. b")
    assert "<strong>lions</strong>" in html
    assert "<em>cubs</em>" in html
    assert "<ul><li>one</li><li>two <code>x</code></li></ul>" in html
    assert "<ol><li>a</li><li>b</li></ol>" in html


def test_links_stay_text() -> None:
    html = render_safe_markdown("[click](javascript:alert(1)) https://evil.example")
    assert "<a" not in html


def test_markup_inside_bold_is_still_escaped() -> None:
    assert "<strong>&lt;b&gt;</strong>" in render_safe_markdown("**<b>**")


def test_a_list_after_a_line_of_text_is_still_a_list() -> None:
    html = render_safe_markdown("What they share:\n* **Colour**: soft\n* Mood: calm\nThe end.")
    assert html == (
        "<p>What they share:</p>"
        "<ul><li><strong>Colour</strong>: soft</li><li>Mood: calm</li></ul>"
        "<p>The end.</p>"
    )
