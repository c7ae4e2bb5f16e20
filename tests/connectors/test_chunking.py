"""Chunking: chunks stay inside one section, overlap as asked, and are numbered 0..n-1."""

from __future__ import annotations

import itertools

import pytest

from connectors import Chunk, Document, Section, chunk_document

pytestmark = pytest.mark.unit


def words(prefix: str, count: int) -> str:
    return " ".join(f"{prefix}{number:04d}" for number in range(count))


def manual(*sections: Section) -> Document:
    return Document(source="manual.md", title="Manual", kind="manual", sections=sections)


def shared_edge(previous: str, following: str) -> int:
    """Length of the longest end of ``previous`` that begins ``following``."""
    for length in range(min(len(previous), len(following)), 0, -1):
        if previous.endswith(following[:length]):
            return length
    return 0


DOCUMENT = manual(
    Section(text=words("alpha", 300), heading="Pumps", page=1),
    Section(text="   ", heading="Blank"),
    Section(text="A short note.", heading="Pumps > Note", page=2),
    Section(text=words("gamma", 200), heading="Valves", page=3),
)


def test_no_chunk_crosses_a_section() -> None:
    chunks = chunk_document(DOCUMENT, chunk_chars=200, overlap_chars=40)
    by_heading = {section.heading: section for section in DOCUMENT.sections}
    for chunk in chunks:
        section = by_heading[chunk.section]
        assert chunk.text in section.text
        assert chunk.page == section.page
    prefixes = {chunk.section: {word[:5] for word in chunk.text.split()} for chunk in chunks}
    assert prefixes["Pumps"] == {"alpha"} and prefixes["Valves"] == {"gamma"}


def test_ordinals_run_over_the_whole_document() -> None:
    chunks = chunk_document(DOCUMENT, chunk_chars=200, overlap_chars=40)
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    assert [chunk.section for chunk in chunks].count("Pumps > Note") == 1


def test_overlap_is_honoured_and_chunks_fit() -> None:
    chunks = [c for c in chunk_document(DOCUMENT, chunk_chars=200, overlap_chars=40) if c.section == "Pumps"]
    assert len(chunks) > 5
    assert all(len(chunk.text) <= 200 for chunk in chunks)
    for previous, following in itertools.pairwise(chunks):
        overlap = shared_edge(previous.text, following.text)
        assert 0 < overlap <= 40


def test_every_word_is_kept() -> None:
    chunks = chunk_document(DOCUMENT, chunk_chars=200, overlap_chars=40)
    kept = {word for chunk in chunks for word in chunk.text.split()}
    assert kept == set(DOCUMENT.text.split())


def test_zero_overlap_gives_disjoint_chunks() -> None:
    chunks = chunk_document(manual(Section(text=words("beta", 100))), chunk_chars=100, overlap_chars=0)
    assert sum(len(chunk.text.split()) for chunk in chunks) == 100


def test_empty_sections_are_dropped_and_a_short_section_is_one_chunk() -> None:
    chunks = chunk_document(manual(Section(text=""), Section(text="  Check oil.  ", heading="Oil")))
    assert chunks == [Chunk(text="Check oil.", ordinal=0, section="Oil", page=None)]


@pytest.mark.parametrize(("chunk_chars", "overlap_chars"), [(100, 100), (100, 150), (100, -1), (0, 0)])
def test_bad_sizes_are_refused_naming_both_values(chunk_chars: int, overlap_chars: int) -> None:
    with pytest.raises(ValueError, match=f"{chunk_chars}") as caught:
        chunk_document(DOCUMENT, chunk_chars=chunk_chars, overlap_chars=overlap_chars)
    if chunk_chars > 0:
        assert f"overlap_chars={overlap_chars}" in str(caught.value)
        assert f"chunk_chars={chunk_chars}" in str(caught.value)
