from __future__ import annotations

import pytest

from rag_fed.site.answer import answer_messages, resolve_citations
from rag_fed.types import Citation, Passage

pytestmark = pytest.mark.unit


def _passage(doc: str, section: str, rank: int) -> Passage:
    citation = Citation(site_id="north", doc_id=doc, title=doc.upper(), section=section)
    return Passage(citation=citation, chunk_id=rank, text=f"text of {doc}", score=1.0 / rank, rank=rank)


def test_numbered_citations_become_site_tags() -> None:
    passages = [_passage("pump.md", "Seals", 1), _passage("belt.pdf", "", 2)]
    text = resolve_citations("Replace the seal [1] and check the belt [2].", passages)
    assert "[north:pump.md#Seals]" in text
    assert "[north:belt.pdf]" in text
    assert "Sources:" not in text


def test_answer_without_citations_lists_its_sources() -> None:
    passages = [_passage("pump.md", "Seals", 1)]
    text = resolve_citations("Replace the seal.", passages)
    assert text.endswith("Sources: [north:pump.md#Seals]")


def test_out_of_range_numbers_are_dropped() -> None:
    passages = [_passage("pump.md", "Seals", 1)]
    text = resolve_citations("See [7].", passages)
    assert "[7]" not in text
    assert "Sources:" in text


def test_prompt_numbers_passages_and_names_the_site() -> None:
    messages = answer_messages("north", "why does it leak?", [_passage("pump.md", "Seals", 1)])
    assert messages[0].role == "system" and "north" in messages[0].content
    assert "[1] PUMP.MD — Seals" in messages[1].content
    assert messages[1].content.endswith("Question: why does it leak?")


def test_citation_label_uses_page_when_no_section() -> None:
    citation = Citation(site_id="s", doc_id="m.pdf", title="M", page=3)
    assert citation.label == "[s:m.pdf#p3]"


def test_citation_anchor_is_the_innermost_heading() -> None:
    citation = Citation(site_id="s", doc_id="m.md", title="M", section="Manual > 7 Faults > F-217")
    assert citation.label == "[s:m.md#F-217]"
    assert Citation(site_id="s", doc_id="log.csv/12", title="WO 12").label == "[s:log.csv/12]"
