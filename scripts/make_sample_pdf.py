"""Generate the PDF manuals of the sample federation (rag_fed/samples/federation/*/manuals/*.pdf).

The manuals are fictional and written for this project. Their full text is in ``scripts/sample_pdf_sources/``
(one file per manual: ``path``, ``doc_no``, ``title`` and ``subject`` header lines, a blank line, then a
small line-based markup), so the PDFs can be rebuilt at any time and reviewed as text:

    === page ===        starts a PDF page; each one must fit on one page (the script fails otherwise),
                        so the page numbers cited by questions.jsonl stay stable
    # Title             document title          ## Heading       section heading
    - item              bullet item; lines indented by two spaces continue it
    @widths 60 110      column widths (mm) of the next table
    | a | b |           table row, the first row of a table is its heading row; a row that does not
                        end with "|" continues on the next line(s), indented by two spaces
    other lines         paragraph text; a blank line ends the paragraph

Regenerate (needs the ``dev`` extra, i.e. fpdf2):

    .venv/bin/pip install fpdf2
    .venv/bin/python scripts/make_sample_pdf.py            # writes the three PDFs
    .venv/bin/python scripts/make_sample_pdf.py --check    # exit 1 if a committed PDF is out of date
    .venv/bin/python scripts/check_sample_questions.py     # then re-check the gold passages

Output is deterministic (fixed creation date, core fonts only, latin-1 text): a rebuild with the same
fpdf2 version gives identical bytes. The generated PDFs are committed; the demo, tests and docs do not
need fpdf2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FEDERATION = ROOT / "rag_fed" / "samples" / "federation"
CREATED = datetime(2024, 3, 1, 8, 0, 0, tzinfo=UTC)
PAGE_BREAK = "=== page ==="


@dataclass(frozen=True)
class Block:
    """One piece of a page: ``h1``/``h2``/``p`` (``text``), ``bullets`` (``items``) or ``table``."""

    kind: str
    text: str = ""
    items: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    widths: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Manual:
    path: str  # relative to FEDERATION
    doc_no: str
    title: str
    subject: str
    markup: str


SOURCES = Path(__file__).resolve().parent / "sample_pdf_sources"
_HEADER_FIELDS = ("path", "doc_no", "title", "subject")


def load_manual(source: Path) -> Manual:
    """A manual from its source file: ``field: value`` header lines, a blank line, then the markup."""
    header, _, markup = source.read_text(encoding="utf-8").partition("\n\n")
    fields = dict(line.split(": ", 1) for line in header.splitlines())
    if sorted(fields) != sorted(_HEADER_FIELDS):
        raise SystemExit(f"{source}: the header must have exactly the fields {', '.join(_HEADER_FIELDS)}")
    return Manual(markup="\n" + markup, **fields)


def load_manuals() -> list[Manual]:
    return [load_manual(source) for source in sorted(SOURCES.glob("*.txt"))]


def parse(markup: str) -> list[list[Block]]:
    """Pages of blocks from the markup described in the module docstring."""
    pages: list[list[Block]] = []
    kind = ""  # the open multi-line block: "p", "bullets" or "table"
    lines: list[str] = []
    widths: tuple[float, ...] | None = None

    def flush() -> None:
        nonlocal kind, lines, widths
        if kind == "p":
            pages[-1].append(Block("p", text=" ".join(lines)))
        elif kind == "bullets":
            pages[-1].append(Block("bullets", items=tuple(lines)))
        elif kind == "table":
            rows = tuple(tuple(cell.strip() for cell in row.strip().strip("|").split("|")) for row in lines)
            pages[-1].append(Block("table", rows=rows, widths=widths))
            widths = None
        kind, lines = "", []

    for raw in markup.strip("\n").splitlines():
        line = raw.rstrip()
        if line == PAGE_BREAK:
            flush()
            pages.append([])
            continue
        if not pages:
            raise ValueError(f"markup must start with {PAGE_BREAK!r}")
        if not line:
            flush()
        elif line.startswith("  ") and kind in {"bullets", "table"}:
            lines[-1] += " " + line.strip()
        elif line.startswith(("# ", "## ")):
            flush()
            pages[-1].append(Block("h1" if line.startswith("# ") else "h2", text=line.split(" ", 1)[1]))
        elif line.startswith("@widths "):
            flush()
            widths = tuple(float(value) for value in line.split()[1:])
        elif line.startswith("|"):
            if kind != "table":
                flush()
                kind = "table"
            lines.append(line)
        elif line.startswith("- "):
            if kind != "bullets":
                flush()
                kind = "bullets"
            lines.append(line[2:])
        else:
            if kind != "p":
                flush()
                kind = "p"
            lines.append(line)
    flush()
    return pages


def _latin1(text: str) -> str:
    text.encode("latin-1")  # core fonts only cover latin-1; fail loudly on anything else
    return text


def render(manual: Manual) -> bytes:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    class ManualPDF(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "I", 8)
            self.set_text_color(90, 90, 90)
            title = _latin1(f"{manual.title}  |  {manual.doc_no}")
            self.cell(0, 5, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="R")
            self.ln(2)
            self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-13)
            self.set_font("Helvetica", "I", 8)
            self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = ManualPDF(format="A4")
    pdf.set_creation_date(CREATED)
    pdf.set_title(manual.title)
    pdf.set_author("rag-fed sample federation (fictional)")
    pdf.set_subject(manual.subject)
    pdf.set_creator("scripts/make_sample_pdf.py")
    pdf.set_margins(18, 15, 18)
    pdf.set_auto_page_break(True, margin=18)

    for number, blocks in enumerate(parse(manual.markup), start=1):
        pdf.add_page()
        for block in blocks:
            if block.kind == "h1":
                pdf.set_font("Helvetica", "B", 15)
                pdf.multi_cell(0, 7, _latin1(block.text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(2)
            elif block.kind == "h2":
                pdf.ln(2)
                pdf.set_font("Helvetica", "B", 12)
                pdf.multi_cell(0, 6, _latin1(block.text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(1)
            elif block.kind == "p":
                pdf.set_font("Helvetica", "", 10)
                pdf.multi_cell(0, 5, _latin1(block.text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(1.5)
            elif block.kind == "bullets":
                pdf.set_font("Helvetica", "", 10)
                for item in block.items:
                    pdf.set_x(pdf.l_margin + 3)
                    pdf.multi_cell(0, 5, _latin1(f"- {item}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                    pdf.ln(0.8)
                pdf.ln(0.7)
            elif block.kind == "table":
                pdf.set_font("Helvetica", "", 9)
                with pdf.table(
                    col_widths=block.widths, text_align="LEFT", line_height=4.6, first_row_as_headings=True
                ) as table:
                    for row in block.rows:
                        cells = table.row()
                        for value in row:
                            cells.cell(_latin1(value))
                pdf.ln(2)
        if pdf.page_no() != number:
            raise SystemExit(
                f"{manual.path}: page {number} overflows onto page {pdf.page_no()}; "
                "shorten it or split it with another page break"
            )
    return bytes(pdf.output())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the sample federation's PDF manuals.")
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if a committed PDF differs from a fresh build",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=FEDERATION,
        help="federation folder to write into (default: the samples)",
    )
    args = parser.parse_args(argv)
    stale = []
    for manual in load_manuals():
        data = render(manual)
        target = args.out_dir / manual.path
        if args.check:
            if not target.is_file() or target.read_bytes() != data:
                stale.append(str(target))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"wrote {target} ({len(data):,} bytes)")
    if stale:
        print("out of date (run scripts/make_sample_pdf.py):\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
