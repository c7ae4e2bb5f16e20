"""PDF loader on PDFs made with fpdf2: pages kept, headings guessed, broken files refused clearly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from connectors import SourceData, load_documents
from connectors.base import Document
from connectors.errors import CorruptFileError, EmptyFileError
from connectors.pdf import PdfConnector

pytestmark = pytest.mark.unit

MakePdf = Callable[..., bytes]


def load(data: bytes, name: str = "manuals/excavator.pdf") -> Document:
    documents = list(PdfConnector().load(SourceData(name, data)))
    assert len(documents) == 1
    return documents[0]


def test_one_section_per_page_with_page_numbers(manual_pdf: bytes) -> None:
    document = load(manual_pdf)
    assert [section.page for section in document.sections] == [1, 2, 3]
    assert "every 10 hours" in document.sections[0].text
    assert "boom cylinder seals" in document.sections[1].text
    assert "30 percent" in document.sections[2].text
    assert document.metadata["pages"] == "3"


def test_headings_are_guessed_from_the_first_lines(manual_pdf: bytes) -> None:
    headings = [section.heading for section in load(manual_pdf).sections]
    # Page 2 opens with a page number, which is not taken for the heading.
    assert headings == ["Hydraulic System", "Boom Cylinder", "Bucket Teeth"]


def test_title_comes_from_the_metadata_then_the_first_heading(make_pdf: MakePdf) -> None:
    assert load(make_pdf([["Pump", "Bleed it."]], title="Pump Manual")).title == "Pump Manual"
    assert load(make_pdf([["Pump Care", "Bleed it."]])).title == "Pump Care"


def test_body_text_at_the_top_of_a_page_gives_no_heading(make_pdf: MakePdf) -> None:
    document = load(make_pdf([["Bleed the pump slowly, then close the screw and restart the engine."]]))
    assert document.sections[0].heading == ""


def test_blank_pages_are_skipped_but_numbering_is_kept(make_pdf: MakePdf) -> None:
    document = load(make_pdf([["Intro", "First page text."], [], ["Wiring", "Third page text."]]))
    assert [section.page for section in document.sections] == [1, 3]


def test_scanned_pdf_without_text_is_empty_and_says_ocr_is_unsupported(make_pdf: MakePdf) -> None:
    with pytest.raises(EmptyFileError, match="OCR is not supported") as caught:
        load(make_pdf([[], []]), name="scan.pdf")
    assert caught.value.source == "scan.pdf"


def test_truncated_pdf_is_corrupt(manual_pdf: bytes) -> None:
    with pytest.raises(CorruptFileError) as caught:
        load(manual_pdf[: len(manual_pdf) // 2], name="cut.pdf")
    assert "cut.pdf" in str(caught.value)
    assert "truncated" in caught.value.reason


def test_pdf_with_damaged_body_is_corrupt_not_a_raw_library_error(manual_pdf: bytes) -> None:
    damaged = manual_pdf[:400] + b"\xff" * 2000 + manual_pdf[2400:]
    with pytest.raises(CorruptFileError):
        load_documents(SourceData("damaged.pdf", damaged))


def test_file_not_starting_with_the_pdf_header_is_refused() -> None:
    with pytest.raises(CorruptFileError, match="%PDF"):
        load(b"<html>not a pdf</html>", name="fake.pdf")


def test_password_protected_pdf_is_refused_as_encrypted(make_pdf: MakePdf) -> None:
    locked = make_pdf([["Secret", "Text."]], user_password="letmein")
    with pytest.raises(CorruptFileError, match="encrypted") as caught:
        load(locked, name="locked.pdf")
    assert "locked.pdf" in str(caught.value)


def test_pdf_with_only_an_owner_password_is_read(make_pdf: MakePdf) -> None:
    restricted = make_pdf([["Pump", "Restricted but readable."]], user_password="")
    assert "Restricted but readable." in load(restricted).text


PUMP_PAGES = [["Slurry Pump SP-150 Service Instructions", "Isolate the pump at MCC-4 before any work."]]


@pytest.mark.parametrize(
    ("title", "creator"),
    [
        ("Microsoft Word - 10002805_A_Improved_A4_.doc", None),
        ("2062covr.chp:Corel VENTURA", None),
        ("untitled", None),
        ("Untitled-1", None),
        ("Document1", None),
        ("Presentation 2", None),
        ("PowerPoint - service deck", None),
        ("sp150_service_manual_rev_a", None),
        ("C:\\manuals\\pump cover.indd", None),
        ("pump manual v3.pdf", None),
        ("- 1 -", None),
        ("   ", None),
        ("QuarkXPress(R) 8.1", "QuarkXPress(R) 8.1"),
        ("Acrobat PDFMaker", "Acrobat PDFMaker 9.0 for Word"),
    ],
)
def test_a_tool_artefact_title_gives_way_to_the_first_heading(make_pdf: MakePdf, title: str, creator: str) -> None:
    document = load(make_pdf(PUMP_PAGES, title=title, creator=creator))
    assert document.title == "Slurry Pump SP-150 Service Instructions"
    assert document.metadata.get("pdf_title", "") == " ".join(title.split())


@pytest.mark.parametrize(
    "title",
    ["Excavator Service Manual", "GX-400 Gearbox - Rev. 2.1", "Vol. II Maintenance", "SP150 Manual", "Word Processing"],
)
def test_an_author_title_is_kept_and_recorded(make_pdf: MakePdf, title: str) -> None:
    document = load(make_pdf(PUMP_PAGES, title=title, creator="Microsoft Word 2016"))
    assert document.title == title and document.metadata["pdf_title"] == title


def test_no_title_when_page_one_opens_with_body_text(make_pdf: MakePdf) -> None:
    body = [["Isolate the pump at MCC-4 before any work, then drain the casing and flush it with water."]]
    document = load(make_pdf(body, title="Microsoft Word - pump.doc"), name="manuals/sp150-service.pdf")
    assert document.title == ""  # the file name is the document's id, never its title
    assert document.metadata["pdf_title"] == "Microsoft Word - pump.doc"
    assert "pdf_title" not in load(make_pdf(body), name="manuals/sp150-service.pdf").metadata
