"""Fixtures shared by the connector tests: real PDFs made with fpdf2 and the NIST excavator sample."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

MakePdf = Callable[..., bytes]


def build_pdf(
    pages: Sequence[Sequence[str]],
    title: str | None = None,
    user_password: str | None = None,
    creator: str | None = None,
) -> bytes:
    """A PDF with one page per entry; each string is one paragraph. An empty entry is a blank page.
    ``title`` and ``creator`` go into its metadata (the document information dictionary)."""
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 makes the test PDFs: pip install fpdf2")
    pdf = fpdf.FPDF()
    pdf.set_auto_page_break(auto=True, margin=15)
    if title is not None:
        pdf.set_title(title)
    if creator is not None:
        pdf.set_creator(creator)
    for paragraphs in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        for paragraph in paragraphs:
            pdf.multi_cell(w=0, h=6, text=paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=user_password)
    return bytes(pdf.output())


@pytest.fixture(scope="session")
def excavator_sample() -> Path:
    """40 real NIST excavator work orders (see fixtures/README.md for source and license)."""
    return FIXTURES / "excavators_sample.csv"


@pytest.fixture(scope="session")
def make_pdf() -> MakePdf:
    return build_pdf


@pytest.fixture(scope="session")
def manual_pages() -> list[list[str]]:
    """Three pages, each opening with a heading, the second after a page-number line."""
    return [
        ["Hydraulic System", "Check the hydraulic oil level every 10 hours of operation."],
        ["2", "Boom Cylinder", "Inspect the boom cylinder seals for leaks before each shift."],
        ["Bucket Teeth", "Replace worn bucket teeth when the wear exceeds 30 percent."],
    ]


@pytest.fixture(scope="session")
def manual_pdf(manual_pages: list[list[str]]) -> bytes:
    return build_pdf(manual_pages, title="Excavator Service Manual")
