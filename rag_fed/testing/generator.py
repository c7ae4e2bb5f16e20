"""The ``Generator`` contract (``rag_fed.generators.base.Generator``): text for a chat, streamed in pieces that
join to the greedy answer, ``max_tokens`` obeyed, and an answer still given to a conversation longer than
the model's context (this repository runs it with a 512-token window).

Subclass :class:`GeneratorContract`, name the subclass ``Test...``, and give it a ``generator`` fixture.
"""

from __future__ import annotations

import pytest

from rag_fed.generators.base import ChatMessage, Generator

__all__ = ["QUESTION", "GeneratorContract", "long_conversation"]

QUESTION = [
    ChatMessage("system", "You are a maintenance assistant. Answer in one or two sentences."),
    ChatMessage("user", "How do I replace the hydraulic filter on a press?"),
]


def long_conversation() -> list[ChatMessage]:
    """Several times the test window, ending in a question the model must still answer."""
    filler = "The spindle motor of line 3 overheated again after the coolant pump was serviced. " * 7
    chat = [ChatMessage("system", "You are a maintenance assistant. Be brief.")]
    for turn in range(10):
        chat.append(ChatMessage("user", f"Log entry {turn}: {filler}"))
        chat.append(ChatMessage("assistant", f"Noted entry {turn}. {filler}"))
    chat.append(ChatMessage("user", "In one sentence: what should be checked first?"))
    return chat


class GeneratorContract:
    """Subclass and provide a ``generator`` fixture to check a backend."""

    @pytest.fixture
    def generator(self) -> Generator:
        raise NotImplementedError

    def test_is_a_generator_with_a_name(self, generator: Generator) -> None:
        assert isinstance(generator, Generator)
        assert generator.name

    def test_generate_returns_non_empty_text(self, generator: Generator) -> None:
        answer = generator.generate(QUESTION, max_tokens=32)
        assert isinstance(answer, str)
        assert answer.strip()

    def test_stream_pieces_join_to_the_greedy_answer(self, generator: Generator) -> None:
        pieces = list(generator.stream(QUESTION, max_tokens=32, temperature=0.0))
        assert len(pieces) >= 2
        assert all(isinstance(piece, str) and piece for piece in pieces)
        # Greedy decoding is deterministic, so a second call (the joined stream) gives the same text.
        assert "".join(pieces) == generator.generate(QUESTION, max_tokens=32, temperature=0.0)

    def test_max_tokens_cuts_the_greedy_answer_short(self, generator: Generator) -> None:
        short = generator.generate(QUESTION, max_tokens=5)
        longer = generator.generate(QUESTION, max_tokens=32)
        assert short.strip()
        assert len(short.split()) <= 5
        # Same greedy path, stopped earlier: the short answer is where the longer one starts.
        assert longer.startswith(short)
        assert len(longer) > len(short)

    def test_a_conversation_longer_than_the_context_still_gets_an_answer(self, generator: Generator) -> None:
        answer = generator.generate(long_conversation(), max_tokens=16)
        assert answer.strip()
