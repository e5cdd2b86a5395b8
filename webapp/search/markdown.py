"""A deliberately tiny Markdown subset for model answers.

Model output is untrusted text. Everything is HTML-escaped FIRST; only then
are a few patterns (paragraphs, line breaks, bullet and numbered lists,
**bold**, *italic*, `code`, headings as bold lines) turned into tags we write
ourselves. No raw HTML, no links, no images can come through.
"""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)(.+?)(?<=\S)\*(?![*\w])")
_CODE = re.compile(r"`([^`]+)`")
_BULLET = re.compile(r"^\s*[-*•]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_HEADING = re.compile(r"^\s*#{1,6}\s+(.*)$")


def _inline(escaped: str) -> str:
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    return _ITALIC.sub(r"<em>\1</em>", escaped)


def _list(kind: str, items: list[str]) -> str:
    return f"<{kind}>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + f"</{kind}>"


def _line(line: str) -> str:
    heading = _HEADING.match(line)
    return f"<strong>{_inline(heading.group(1))}</strong>" if heading else _inline(line)


def _block(lines: list[str]) -> str:
    """A paragraph, in which runs of "- item" or "1. item" lines become lists."""
    parts: list[str] = []
    text: list[str] = []
    items: list[str] = []
    kind = ""

    def close_text() -> None:
        if text:
            parts.append("<p>" + "<br>".join(_line(line) for line in text) + "</p>")
            text.clear()

    def close_list() -> None:
        if items:
            parts.append(_list(kind, items))
            items.clear()

    for line in lines:
        bullet, numbered = _BULLET.match(line), _NUMBERED.match(line)
        match = bullet or numbered
        if match:
            close_text()
            this_kind = "ul" if bullet else "ol"
            if items and this_kind != kind:
                close_list()
            kind = this_kind
            items.append(match.group(1))
        else:
            close_list()
            text.append(line)
    close_text()
    close_list()
    return "".join(parts)


def render_safe_markdown(text: str) -> SafeString:
    escaped = escape(text.replace("\r\n", "\n"))
    blocks = [block.split("\n") for block in re.split(r"\n\s*\n", escaped.strip()) if block]
    return mark_safe("".join(_block([ln for ln in lines if ln.strip()]) for lines in blocks))  # noqa: S308 (escaped above)
