"""Loader for Markdown manuals (.md, .markdown): plain text per heading, under its heading path.

The markdown-it-py token stream is rendered to plain text rather than kept as Markdown, so that
embeddings and cited snippets see "torque to 45 Nm" and not "**torque** to [45 Nm](#spec)". Lists keep
their markers, tables become "cell | cell" rows and code blocks are kept verbatim.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

from connectors._outline import Outline
from connectors._textio import decode_text
from connectors.base import Document, SourceData
from connectors.errors import EmptyFileError

__all__ = ["MarkdownConnector"]

# YAML front matter (static-site generators, wikis) is metadata, not manual text.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_INDENT = "  "


@dataclass
class MarkdownConnector:
    """Reads CommonMark (with GFM tables); one section per heading, the title from the first H1 (none
    without one)."""

    suffixes: tuple[str, ...] = (".md", ".markdown")

    def load(self, source: SourceData) -> Iterator[Document]:
        text = _FRONT_MATTER.sub("", decode_text(source).replace("\r\n", "\n"), count=1)
        outline = _render(_parser().parse(text))
        sections = outline.sections()
        if not sections:
            raise EmptyFileError(source.name, "the Markdown holds no text (only markup or front matter)")
        yield Document(
            source=source.name,
            title=outline.first_top_heading,  # none: no title (the file name is the document's id, not text)
            kind="manual",
            sections=sections,
        )


@functools.cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


@dataclass
class _ListLevel:
    ordered: bool
    number: int


def _render(tokens: Sequence[Token]) -> Outline:
    """Walk the flat token stream, sending headings and plain-text lines to an ``Outline``."""
    outline = Outline()
    lists: list[_ListLevel] = []
    item_prefix: str | None = None
    heading_level = 0
    row: list[str] | None = None
    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            heading_level = int(token.tag[1:])
        elif kind == "heading_close":
            heading_level = 0
        elif kind in ("bullet_list_open", "ordered_list_open"):
            start = token.attrGet("start")
            lists.append(_ListLevel(kind == "ordered_list_open", int(start) if start is not None else 1))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                outline.end_block()
        elif kind == "list_item_open":
            level = lists[-1]
            item_prefix = f"{level.number}. " if level.ordered else "- "
            level.number += 1
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            outline.add_line(" | ".join(row))
            row = None
        elif kind == "table_close":
            outline.end_block()
        elif kind == "inline":
            text = _inline_text(token)
            if heading_level:
                outline.heading(heading_level, text)
            elif row is not None:
                row.append(" ".join(text.split()))
            else:
                if _add_block(outline, text, lists, item_prefix):
                    item_prefix = None
        elif kind in ("fence", "code_block", "html_block"):
            content = token.content if kind != "html_block" else _HTML_TAG.sub(" ", token.content)
            if _add_block(outline, content.rstrip("\n"), lists, item_prefix, verbatim=True):
                item_prefix = None
        elif kind == "paragraph_close" and not lists:
            outline.end_block()
    return outline


def _add_block(
    outline: Outline,
    text: str,
    lists: list[_ListLevel],
    item_prefix: str | None,
    verbatim: bool = False,
) -> bool:
    """Add one block's lines, the first one marked with ``item_prefix``; False if there was nothing to add."""
    if not text.strip():
        return False
    indent = _INDENT * max(len(lists) - 1, 0)
    continuation = indent + (_INDENT if lists else "")
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if index == 0 and item_prefix is not None:
            outline.add_line(indent + item_prefix + line)
        else:
            outline.add_line((continuation if lists else "") + line)
    if verbatim and not lists:
        outline.end_block()
    return True


def _inline_text(token: Token) -> str:
    """Plain text of an inline token: text, code spans and image alt text, no markup or raw HTML."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts).strip()
