"""How a site's local model answers from its own passages, and how its citations are made explicit."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag_fed.generators.base import ChatMessage
from rag_fed.types import Passage

__all__ = ["answer_messages", "resolve_citations"]

_PASSAGE_CHARS = 900
_NUMBERED = re.compile(r"\[(\d{1,2})\]")


def answer_messages(site_id: str, question: str, passages: Sequence[Passage]) -> list[ChatMessage]:
    """A prompt that asks for a short answer citing passages by number (small models manage numbers
    far better than long ``[site:doc#section]`` tags; :func:`resolve_citations` expands them)."""
    numbered = "\n\n".join(
        f"[{index}] {passage.citation.heading}\n{passage.text[:_PASSAGE_CHARS]}"
        for index, passage in enumerate(passages, start=1)
    )
    system = (
        f"You are the maintenance assistant of site {site_id}. Answer the engineer's question in two or "
        "three sentences using only the numbered passages, and cite the passages you used like [1]. "
        "If the passages do not answer the question, say that this site's documents do not cover it."
    )
    user = f"Passages:\n{numbered}\n\nQuestion: {question}"
    return [ChatMessage("system", system), ChatMessage("user", user)]


def resolve_citations(answer: str, passages: Sequence[Passage]) -> str:
    """Replace ``[n]`` with the passage's ``[site:doc#section]`` tag; when the model cited nothing it
    could resolve, list the passages it was given, so every answer can be traced to its sources."""
    cited = False

    def expand(match: re.Match[str]) -> str:
        nonlocal cited
        number = int(match.group(1))
        if 1 <= number <= len(passages):
            cited = True
            return passages[number - 1].citation.label
        return ""

    text = _NUMBERED.sub(expand, answer.strip())
    if not cited and passages:
        sources = ", ".join(dict.fromkeys(passage.citation.label for passage in passages))
        text = f"{text}\n\nSources: {sources}"
    return text
