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


def _items(lines: list[str], pattern: re.Pattern[str]) -> str:
    contents = [_inline(match.group(1)) for match in map(pattern.match, lines) if match]
    return "".join(f"<li>{content}</li>" for content in contents)


def _line(line: str) -> str:
    heading = _HEADING.match(line)
    return f"<strong>{_inline(heading.group(1))}</strong>" if heading else _inline(line)


def _block(lines: list[str]) -> str:
    if all(_BULLET.match(line) for line in lines):
        return f"<ul>{_items(lines, _BULLET)}</ul>"
    if all(_NUMBERED.match(line) for line in lines):
        return f"<ol>{_items(lines, _NUMBERED)}</ol>"
    return "<p>" + "<br>".join(_line(line) for line in lines) + "</p>"


def render_safe_markdown(text: str) -> SafeString:
    escaped = escape(text.replace("\r\n", "\n"))
    blocks = [block.split("\n") for block in re.split(r"\n\s*\n", escaped.strip()) if block]
    return mark_safe("".join(_block([ln for ln in lines if ln.strip()]) for lines in blocks))  # noqa: S308 (escaped above)
