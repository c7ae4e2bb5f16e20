"""Markdown loader: heading paths, title, and plain text that keeps lists, tables and code."""

from __future__ import annotations

import pytest

from connectors import SourceData
from connectors.base import Document
from connectors.errors import EmptyFileError
from connectors.markdown import MarkdownConnector

pytestmark = pytest.mark.unit

MANUAL = """---
title: front matter is not text
---

Read the safety notes first.

# Excavator Manual

## Hydraulics

### Pumps

Bleed the **main** pump through [the bleed screw](#screw).

### Hoses

1. Lower the boom.
2. Release pressure:
   - open the valve
   - wait 30 s

## Engine

| Item | Interval |
|------|----------|
| Oil  | 250 h    |

```sh
ecu-reset --all
```
"""


def load(text: str, name: str = "manuals/excavator.md") -> Document:
    documents = list(MarkdownConnector().load(SourceData(name, text.encode())))
    assert len(documents) == 1
    return documents[0]


def test_sections_carry_the_heading_path() -> None:
    document = load(MANUAL)
    headings = [section.heading for section in document.sections]
    assert headings == [
        "",
        "Excavator Manual > Hydraulics > Pumps",
        "Excavator Manual > Hydraulics > Hoses",
        "Excavator Manual > Engine",
    ]
    assert document.title == "Excavator Manual"


def test_inline_markup_becomes_plain_text_and_front_matter_is_dropped() -> None:
    document = load(MANUAL)
    assert document.sections[0].text == "Read the safety notes first."
    assert document.sections[1].text == "Bleed the main pump through the bleed screw."
    assert "front matter" not in document.text


def test_lists_keep_their_markers_and_nesting() -> None:
    hoses = load(MANUAL).sections[2].text
    assert hoses.splitlines() == [
        "1. Lower the boom.",
        "2. Release pressure:",
        "  - open the valve",
        "  - wait 30 s",
    ]


def test_tables_become_rows_and_code_is_kept() -> None:
    engine = load(MANUAL).sections[3].text
    assert "Item | Interval" in engine
    assert "Oil | 250 h" in engine
    assert "ecu-reset --all" in engine


def test_without_a_top_heading_there_is_no_title() -> None:
    document = load("## Only a subheading\n\nSome text.\n", name="notes/pump-notes.md")
    assert document.title == ""  # the file name is the document's id, never its title
    assert document.sections[0].heading == "Only a subheading"


def test_a_new_top_heading_resets_the_path() -> None:
    document = load("# A\n\n## B\n\nunder b\n\n# C\n\nunder c\n")
    assert [section.heading for section in document.sections] == ["A > B", "C"]


def test_headings_alone_still_make_a_document() -> None:
    document = load("# Pump\n\n## Bleeding\n")
    assert document.text == "Pump\nBleeding"


def test_markup_without_text_is_empty() -> None:
    with pytest.raises(EmptyFileError, match=r"empty\.md"):
        list(MarkdownConnector().load(SourceData("empty.md", b"<!-- nothing -->\n\n---\n")))
