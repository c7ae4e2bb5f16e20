"""The prompts a model answers over evidence with: numbered items, short, citing by number.

A 135M model copes with numbers far better than with long ``[site:doc#section]`` tags; the composer
turns ``[n]`` back into the item's tag. The system prompt is the same for every question, so a local
backend that keeps its prompt cache (llama.cpp does) evaluates it once.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag_fed.generators.base import ChatMessage
from rag_fed.types import Evidence

__all__ = ["generative_messages", "lead_messages"]

_LEAD_SYSTEM = (
    "You answer maintenance questions from numbered evidence. Write one or two short sentences that answer "
    "the question using only the evidence. Copy numbers, units and codes exactly as the evidence writes "
    "them. End each sentence with the number of the evidence it comes from, like [1]."
)
_GENERATIVE_SYSTEM = (
    "You are the maintenance assistant of a group of plants. Answer the engineer's question from the numbered "
    "evidence only. Be concise. Copy numbers, units and codes exactly. Cite the evidence you use like [1]. If "
    "plants differ, say so and name them. If the evidence does not answer the question, say so."
)


def _numbered(evidence: Sequence[Evidence], chars: int) -> str:
    return "\n\n".join(
        f"[{index}] {item.citation.site_id}: {item.citation.heading}\n{item.text[:chars]}"
        for index, item in enumerate(evidence, start=1)
    )


def lead_messages(question: str, evidence: Sequence[Evidence], chars: int = 700) -> list[ChatMessage]:
    """One or two checked sentences over ``evidence`` (numbered in the given order)."""
    user = f"Evidence:\n{_numbered(evidence, chars)}\n\nQuestion: {question}"
    return [ChatMessage("system", _LEAD_SYSTEM), ChatMessage("user", user)]


def generative_messages(
    question: str, evidence: Sequence[Evidence], history: Sequence[ChatMessage] = (), chars: int = 1200
) -> list[ChatMessage]:
    """A free answer over ``evidence``, after the earlier turns of the conversation."""
    earlier = [turn for turn in history if turn.role != "system"]
    user = f"Evidence:\n{_numbered(evidence, chars)}\n\nQuestion: {question}"
    return [ChatMessage("system", _GENERATIVE_SYSTEM), *earlier, ChatMessage("user", user)]
