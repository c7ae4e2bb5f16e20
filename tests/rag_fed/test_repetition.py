"""Cutting the loops small models write (``rag_fed.repetition``)."""

from __future__ import annotations

import pytest

from rag_fed.repetition import RepetitionGuard, condense

pytestmark = pytest.mark.unit


def test_condense_drops_repeated_lines_sentences_and_source_lists() -> None:
    looping = (
        "1. Check the valve GSW-12A.\n2. Check the valve GSW-12A.\n3. Replace the packing rings.\n"
        "Tighten evenly. Tighten evenly. Done.\n\nSources: [north:doc-1#s1]"
    )
    assert condense(looping) == "1. Check the valve GSW-12A.\n3. Replace the packing rings.\nTighten evenly. Done."


def test_a_repeat_cut_short_by_the_token_limit_is_dropped_too() -> None:
    assert condense("1. Check the valve GSW-12A to ensure it is open.\n11. Check the valve GSW-") == (
        "1. Check the valve GSW-12A to ensure it is open."
    )


def test_the_guard_stops_a_stream_at_its_first_repeated_sentence() -> None:
    guard = RepetitionGuard()
    out: list[str] = []
    for piece in ["1. Check the pump gland.\n", "2. Check the pump", " gland.\n", "3. Replace the seal.\n"]:
        out.extend(guard.feed(piece))
    out.extend(guard.flush())
    assert "".join(out) == "1. Check the pump gland.\n"
    assert guard.stopped
