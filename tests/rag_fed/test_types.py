"""Citations: the ``[site:doc#section]`` tag every answer cites by."""

from __future__ import annotations

import pytest

from rag_fed.types import CITATION_TAG, Citation

pytestmark = pytest.mark.unit


def test_citation_label_uses_the_section_else_the_page_else_the_document() -> None:
    assert Citation(site_id="north", doc_id="pump.md", title="P", section="Seals").label == "[north:pump.md#Seals]"
    assert Citation(site_id="s", doc_id="m.pdf", title="M", page=3).label == "[s:m.pdf#p3]"
    assert Citation(site_id="s", doc_id="log.csv/12", title="WO 12").label == "[s:log.csv/12]"


def test_citation_anchor_is_the_innermost_heading() -> None:
    citation = Citation(site_id="s", doc_id="m.md", title="M", section="Manual > 7 Faults > F-217")
    assert citation.label == "[s:m.md#F-217]"


def test_citation_tag_pattern_finds_every_label() -> None:
    labels = [
        Citation(site_id="north", doc_id="manuals/pump.md", title="P", section="Seals").label,
        Citation(site_id="south-2", doc_id="log.csv/WO-12", title="W").label,
    ]
    text = f"Replace the seal {labels[0]} and log it {labels[1]}."
    assert [match.group(0) for match in CITATION_TAG.finditer(text)] == labels


def test_citation_tag_pattern_finds_a_label_whose_section_has_spaces() -> None:
    label = Citation(site_id="north", doc_id="pump.md", title="P", section="Pump > Mechanical seal replacement").label
    assert [match.group(0) for match in CITATION_TAG.finditer(f"Replace it {label}.")] == [label]
