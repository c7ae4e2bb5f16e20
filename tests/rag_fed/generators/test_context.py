"""Unit tests of the context-window fitting shared by the local generator backends."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from rag_fed.errors import ModelError
from rag_fed.generators.base import ChatMessage
from rag_fed.generators.context import ELISION, fit_to_context, reply_budget

pytestmark = pytest.mark.unit

_PER_MESSAGE = 3


def _count(messages: Sequence[ChatMessage]) -> int:
    """A stand-in tokenizer: one token per character plus a fixed template cost per message."""
    return sum(len(m.content) + _PER_MESSAGE for m in messages)


def _conversation(turns: int) -> list[ChatMessage]:
    chat = [ChatMessage("system", "be brief")]
    for turn in range(turns):
        chat.append(ChatMessage("user", f"question {turn:03d}"))
        chat.append(ChatMessage("assistant", f"answer {turn:03d}"))
    chat.append(ChatMessage("user", "last question"))
    return chat


def test_a_chat_that_fits_is_returned_unchanged() -> None:
    chat = _conversation(2)
    assert fit_to_context(chat, _count, budget=_count(chat)) == chat


def test_oldest_turns_are_dropped_first_and_pinned_ones_kept() -> None:
    chat = _conversation(20)
    budget = _count(chat) // 3
    fitted = fit_to_context(chat, _count, budget)
    assert _count(fitted) <= budget
    assert fitted[0] == chat[0]
    assert fitted[-1] == chat[-1]
    # What survives is a suffix of the middle turns: the newest history, in order.
    middle = fitted[1:-1]
    assert middle == chat[len(chat) - 1 - len(middle) : -1]
    # And as much of it as fits: one more turn would overflow.
    one_more = [chat[0], chat[len(chat) - 2 - len(middle)], *middle, chat[-1]]
    assert _count(one_more) > budget


def test_an_oversized_question_keeps_its_start_and_end() -> None:
    question = "START " + "x" * 5000 + " END?"
    chat = [ChatMessage("system", "be brief"), ChatMessage("user", question)]
    fitted = fit_to_context(chat, _count, budget=200)
    assert _count(fitted) <= 200
    assert fitted[0] == chat[0]
    assert fitted[1].content.startswith("START")
    assert fitted[1].content.endswith("END?")
    assert ELISION in fitted[1].content


def test_an_oversized_system_prompt_is_shrunk_last() -> None:
    chat = [ChatMessage("system", "s" * 1000), ChatMessage("user", "q" * 1000)]
    fitted = fit_to_context(chat, _count, budget=300)
    assert _count(fitted) <= 300
    assert fitted[1].content == ELISION
    assert len(fitted[0].content) > 200


def test_a_window_smaller_than_the_template_is_a_model_error() -> None:
    chat = [ChatMessage("user", "hello")]
    with pytest.raises(ModelError, match="context_tokens"):
        fit_to_context(chat, _count, budget=2)


@pytest.mark.parametrize(("context", "asked", "expected"), [(2048, 256, 256), (2048, 5000, 1024), (10, 3, 3)])
def test_reply_budget_caps_the_reply_at_half_the_window(context: int, asked: int, expected: int) -> None:
    assert reply_budget(context, asked) == expected


def test_reply_budget_refuses_a_non_positive_max_tokens() -> None:
    with pytest.raises(ModelError, match="max_tokens"):
        reply_budget(2048, 0)
