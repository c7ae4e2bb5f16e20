"""Loader for HTML manuals (.html, .htm): visible text per h1–h4 heading, under its heading path."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from bs4 import BeautifulSoup
from bs4.dammit import EncodingDetector
from bs4.element import NavigableString, PreformattedString, Tag

from connectors._outline import Outline
from connectors._textio import decode_text
from connectors.base import Document, SourceData
from connectors.errors import EmptyFileError

__all__ = ["HtmlConnector"]

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4}
# Never content: code, styling and site navigation around the manual.
_DROPPED = ("script", "style", "noscript", "template", "nav", "head")
# Page banners and footers; inside an <article> or <main> they hold the article's own title or notes.
_PAGE_CHROME = ("header", "footer")
_CONTENT_CONTAINERS = ("article", "main")
_LINE_BLOCKS = frozenset({"li", "dt", "dd", "tr"})
_CELLS = frozenset({"td", "th"})
_BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "caption", "details", "div", "dl", "fieldset"}
    | {"figcaption", "figure", "form", "h5", "h6", "main", "ol", "p", "pre", "section", "summary"}
    | {"table", "ul"}
    | _LINE_BLOCKS
    | _CELLS
)


@dataclass
class HtmlConnector:
    """Reads HTML in UTF-8 or its declared charset; drops scripts, styles, navigation and page chrome."""

    suffixes: tuple[str, ...] = (".html", ".htm")

    def load(self, source: SourceData) -> Iterator[Document]:
        declared = EncodingDetector.find_declared_encoding(source.data, is_html=True)
        soup = BeautifulSoup(decode_text(source, declared_encoding=declared), "html.parser")
        page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
        _drop_invisible(soup)
        outline = _Walker().walk(soup.body or soup)
        sections = outline.sections()
        if not sections:
            raise EmptyFileError(source.name, "the HTML has no visible text")
        yield Document(
            source=source.name,
            title=page_title or outline.first_top_heading,  # none: no title, never the file name
            kind="manual",
            sections=sections,
        )


def _drop_invisible(soup: BeautifulSoup) -> None:
    for tag in soup.find_all(_DROPPED):
        if isinstance(tag, Tag) and not tag.decomposed:
            tag.decompose()
    for tag in soup.find_all(_PAGE_CHROME):
        if isinstance(tag, Tag) and not tag.decomposed and tag.find_parent(_CONTENT_CONTAINERS) is None:
            tag.decompose()


@dataclass
class _Walker:
    """Visits the text nodes in document order, grouping them by the block element that holds them."""

    outline: Outline = field(default_factory=Outline)
    heading: Tag | None = None
    block: Tag | None = None
    pieces: list[str] = field(default_factory=list)
    row: Tag | None = None
    cells: list[str] = field(default_factory=list)
    last_was_line: bool = False

    def walk(self, root: Tag) -> Outline:
        for node in root.descendants:
            if isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
                self._visit(node, root)
        self._finish_block()
        self._finish_row()
        return self.outline

    def _visit(self, node: NavigableString, root: Tag) -> None:
        heading = _nearest(node, root, _HEADINGS.keys())
        if heading is not None:
            if heading is not self.heading:
                self._finish_block()
                self._finish_row()
                self.heading = heading
                self.outline.heading(_HEADINGS[heading.name], heading.get_text(" ", strip=True))
            return
        block = _nearest(node, root, _BLOCKS) or root
        # Tables are flattened to one line per row, whatever paragraphs the cells hold.
        if block.name not in _CELLS:
            block = _nearest(block, root, _CELLS) or block
        if block is not self.block:
            self._finish_block()
            self.block = block
        self.pieces.append(str(node))

    def _finish_block(self) -> None:
        block, raw = self.block, "".join(self.pieces)
        self.block, self.pieces = None, []
        if block is None:
            return
        if block.name == "pre" or block.find_parent("pre") is not None:
            text = raw.strip("\n")
        else:
            text = " ".join(raw.split())
        if not text.strip():
            return
        if block.name in _CELLS:
            row = block.find_parent("tr")
            if row is not self.row:
                self._finish_row()
                self.row = row
            self.cells.append(text)
            return
        self._finish_row()
        if _starts_list_item(block):
            self._add(f"- {text}", is_line=True)
        else:
            in_item = block.name in _LINE_BLOCKS or block.find_parent("li") is not None
            self._add(text, is_line=in_item)

    def _finish_row(self) -> None:
        if self.cells:
            self._add(" | ".join(self.cells), is_line=True)
        self.row, self.cells = None, []

    def _add(self, text: str, is_line: bool) -> None:
        # List items and table rows sit on consecutive lines; paragraphs are set apart by a blank line.
        if not is_line or not self.last_was_line:
            self.outline.end_block()
        for line in text.split("\n"):
            self.outline.add_line(line)
        self.last_was_line = is_line


def _nearest(node: NavigableString | Tag, root: Tag, names: Collection[str]) -> Tag | None:
    """The closest ancestor of ``node`` (below ``root``) whose tag name is in ``names``."""
    for parent in node.parents:
        if parent is root:
            return None
        if parent.name in names:
            return parent
    return None


def _starts_list_item(block: Tag) -> bool:
    """Whether ``block`` is a list item or the first element inside one (``<li><p>…</p></li>``)."""
    if block.name == "li":
        return True
    parent = block.parent
    return parent is not None and parent.name == "li" and parent.find(True) is block
