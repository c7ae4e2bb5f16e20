"""The text of ``ragfed docs list``: document ids always whole, since ``docs delete`` takes them.

Rich tables shrink every column of a wide table, ids included, so the listing is laid out here: ids
padded to the longest one, then kind, chunks and date, and the title cut to what is left of the line.
``plain`` is one tab-separated line per document, nothing cut, for scripts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.cells import cell_len, set_cell_size

if TYPE_CHECKING:
    from indexes import StoredDocument

__all__ = ["document_lines", "plain_lines"]

_HEADER = ("document", "kind", "chunks", "added (UTC)", "title")
_GAP = "  "
_MIN_TITLE = 8


def _added(timestamp: str) -> str:
    """``2026-12-04T17:56:00+00:00`` as ``2026-12-04 17:56``."""
    return timestamp[:16].replace("T", " ")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def document_lines(documents: Sequence[StoredDocument], width: int) -> list[str]:
    """An aligned listing for a terminal ``width`` cells wide; only titles are ever shortened."""
    rows = [(d.doc_id, d.kind, str(d.chunk_count), _added(d.added_at), _one_line(d.title)) for d in documents]
    widths = [max([cell_len(_HEADER[i])] + [cell_len(row[i]) for row in rows]) for i in range(4)]
    title_width = max(_MIN_TITLE, width - sum(widths) - len(_GAP) * 4)
    lines = []
    for row in [_HEADER, *rows]:
        doc_id, kind, chunks, added, title = row
        if cell_len(title) > title_width:
            title = set_cell_size(title, title_width - 1) + "…"
        cells = [set_cell_size(doc_id, widths[0]), set_cell_size(kind, widths[1]), chunks.rjust(widths[2])]
        cells.append(set_cell_size(added, widths[3]))
        lines.append(_GAP.join([*cells, title]).rstrip())
    return lines


def plain_lines(documents: Sequence[StoredDocument]) -> list[str]:
    """Tab-separated ``doc_id kind chunks added_at title``, a header first; nothing is shortened."""
    header = "\t".join(("doc_id", "kind", "chunks", "added_at", "title"))
    body = ["\t".join((d.doc_id, d.kind, str(d.chunk_count), d.added_at, _one_line(d.title))) for d in documents]
    return [header, *body]
