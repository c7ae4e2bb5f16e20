"""Plain-text loader: encodings, refusal of binary data, and splitting at obvious headings."""

from __future__ import annotations

import codecs

import pytest

from connectors import SourceData, chunk_document
from connectors.base import Document
from connectors.errors import CorruptFileError, EmptyFileError
from connectors.text import TextConnector
from tests.conftest import SAMPLES

pytestmark = pytest.mark.unit


def load_one(name: str, data: bytes) -> Document:
    documents = list(TextConnector().load(SourceData(name, data)))
    assert len(documents) == 1
    return documents[0]


def test_utf8_bom_is_dropped_and_first_line_is_the_title() -> None:
    document = load_one("pump.txt", codecs.BOM_UTF8 + b"Pump guide\nBleed the pump at 3 bar.\n")
    assert document.title == "Pump guide"
    assert document.text == "Pump guide\nBleed the pump at 3 bar."
    assert document.kind == "manual"


def test_utf16_with_bom_is_decoded() -> None:
    document = load_one("pump.log", "Über-pressure alarm at 12:03\n".encode("utf-16"))
    assert document.text == "Über-pressure alarm at 12:03"


def test_latin1_text_is_refused_with_the_offset_and_how_to_fix_it() -> None:
    data = "Pump\nÜberdruck".encode("latin-1")
    with pytest.raises(CorruptFileError) as caught:
        list(TextConnector().load(SourceData("legacy.txt", data)))
    message = str(caught.value)
    assert "legacy.txt" in message
    assert f"offset {data.index(0xDC)}" in message
    assert "UTF-8" in message and "convert" in message


def test_nul_bytes_are_binary_not_text() -> None:
    with pytest.raises(CorruptFileError, match="binary data, not text"):
        list(TextConnector().load(SourceData("image.txt", b"GIF89a\x00\x01\x02 not text")))


def test_control_characters_are_binary_even_without_nul() -> None:
    with pytest.raises(CorruptFileError, match="binary data, not text"):
        list(TextConnector().load(SourceData("blob.log", bytes(range(1, 32)) * 10)))


def test_whitespace_only_is_empty() -> None:
    with pytest.raises(EmptyFileError, match="whitespace"):
        list(TextConnector().load(SourceData("blank.txt", b"\n   \n\t")))


def test_capital_headings_split_sections() -> None:
    text = (
        "Excavator care\n\nRead this first.\n\nHYDRAULIC SYSTEM\n\nCheck oil daily.\nTop up if low.\n\n"
        "ENGINE\n\nChange the oil every 250 hours.\n"
    )
    document = load_one("care.txt", text.encode())
    assert [(section.heading, section.text) for section in document.sections] == [
        ("", "Excavator care\n\nRead this first."),
        ("HYDRAULIC SYSTEM", "Check oil daily.\nTop up if low."),
        ("ENGINE", "Change the oil every 250 hours."),
    ]
    assert document.title == "Excavator care"


def test_numbered_headings_split_sections_and_crlf_is_normalised() -> None:
    text = "1. Scope\r\n\r\nThis covers pumps.\r\n\r\n2.1 Bleeding\r\n\r\nOpen the bleed screw.\r\n"
    document = load_one("numbered.txt", text.encode())
    assert [section.heading for section in document.sections] == ["1. Scope", "2.1 Bleeding"]
    assert document.sections[1].text == "Open the bleed screw."


def test_a_single_heading_like_line_does_not_split() -> None:
    text = "WARNING\n\nDepressurise the circuit before opening it.\n"
    document = load_one("warning.txt", text.encode())
    assert len(document.sections) == 1
    assert document.sections[0].heading == ""
    assert "Depressurise" in document.sections[0].text


def test_sentences_in_capitals_are_not_headings() -> None:
    text = "NOTE.\n\nDO NOT RUN DRY.\n\nThe pump needs oil.\n"
    document = load_one("caps.txt", text.encode())
    assert len(document.sections) == 1


def test_underlined_headings_split_sections_and_every_section_knows_its_lines() -> None:
    text = (
        "PUMP SERVICE - INSTRUCTIONS\nDocument PN-4, revision A.\n\n\n"
        "1. PUMP DATA\n------------\n\nType ..... end-suction\nHead ..... 38 m\n\n\n"
        "2. TROUBLESHOOTING\n==================\nSymptom        Probable cause        Action\n"
        "-------------  --------------------  ------\nLow flow       Clearance too large   Adjust\n"
    )
    document = load_one("pump.txt", text.encode())
    lines = text.split("\n")
    assert [(s.heading, s.lines) for s in document.sections] == [
        ("", (1, 2)),
        ("1. PUMP DATA", (8, 9)),
        ("2. TROUBLESHOOTING", (14, 16)),  # the table's header and rule stay in its body
    ]
    for section in document.sections:
        assert section.lines is not None
        assert section.text == "\n".join(lines[section.lines[0] - 1 : section.lines[1]])


def test_the_sample_manual_is_cut_at_its_numbered_underlined_headings() -> None:
    path = SAMPLES / "plant-north" / "manuals" / "sp150-slurry-pump.txt"
    document = load_one(path.name, path.read_bytes())
    assert [section.heading for section in document.sections] == [
        "",
        "1. PUMP DATA",
        "2. ISOLATION BEFORE WORK",
        "3. GLAND SEAL WATER",
        "4. IMPELLER CLEARANCE ADJUSTMENT",
        "5. BEARING CARTRIDGE LUBRICATION",
        "6. WET-END WEAR PARTS",
        "7. PUMP PROTECTION FAULT CODES (relay PR-12 in MCC-4)",
        "8. TROUBLESHOOTING",
    ]
    source = path.read_text().split("\n")
    for chunk in chunk_document(document, 300, 60):
        assert chunk.lines is not None
        first, last = chunk.lines
        assert " ".join(chunk.text.split()) in " ".join(" ".join(source[first - 1 : last]).split())
        assert source[first - 1].strip() and source[last - 1].strip()
