"""Fit a chat into a model's context window by dropping the oldest turns, never by failing.

Backends pass a ``count_tokens`` function that measures a whole conversation as their model will see
it (chat template included), so the same policy works for every tokenizer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from rag_fed.errors import ModelError
from rag_fed.generators.base import ChatMessage

__all__ = ["ELISION", "TokenCounter", "fit_to_context", "reply_budget"]

TokenCounter = Callable[[Sequence[ChatMessage]], int]

ELISION = "\n…\n"

# A reply never gets more than this share of the window: a long conversation must still leave room for
# the system prompt and the question it is about.
_MAX_REPLY_SHARE = 0.5


def reply_budget(context_tokens: int, max_tokens: int) -> int:
    """How many tokens to reserve for the reply: what was asked, capped at half the window."""
    if max_tokens < 1:
        raise ModelError(f"max_tokens must be at least 1, got {max_tokens}")
    return max(1, min(max_tokens, int(context_tokens * _MAX_REPLY_SHARE)))


def fit_to_context(messages: Sequence[ChatMessage], count_tokens: TokenCounter, budget: int) -> list[ChatMessage]:
    """Return ``messages`` cut down so that ``count_tokens`` of them is at most ``budget``.

    Order of sacrifice: whole turns other than the system messages and the last user message, oldest
    first; then the middle of the last user message (its start and end usually hold the instructions
    and the question); then the middle of the system messages. Raises ``ModelError`` only when not even
    the chat template fits, i.e. the configured context is absurdly small.
    """
    kept = list(messages)
    if not kept or count_tokens(kept) <= budget:
        return kept
    pinned = _pinned_indices(kept)
    droppable = [i for i in range(len(kept)) if i not in pinned]

    def without_oldest(n_dropped: int) -> list[ChatMessage]:
        dropped = set(droppable[:n_dropped])
        return [m for i, m in enumerate(kept) if i not in dropped]

    # The token count only falls as more old turns are dropped, so a binary search finds the fewest
    # drops that fit with O(log n) tokenisations instead of one per turn.
    low, high = 0, len(droppable)
    while low < high:
        middle = (low + high) // 2
        if count_tokens(without_oldest(middle)) <= budget:
            high = middle
        else:
            low = middle + 1
    kept = without_oldest(low)
    if count_tokens(kept) <= budget:
        return kept

    # Only pinned messages are left (system first, then the last user turn).
    user_positions = [i for i, m in enumerate(kept) if m.role != "system"]
    system_positions = [i for i, m in enumerate(kept) if m.role == "system"]
    for position in user_positions + system_positions:
        kept = _shrink_message(kept, position, count_tokens, budget)
        if count_tokens(kept) <= budget:
            return kept
    raise ModelError(
        f"the context window ({budget} tokens for the prompt) is too small for even an empty chat; "
        "raise generator.context_tokens"
    )


def _pinned_indices(messages: Sequence[ChatMessage]) -> set[int]:
    pinned = {i for i, m in enumerate(messages) if m.role == "system"}
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    # Without any user turn, the newest message is the one the reply must follow.
    pinned.add(users[-1] if users else len(messages) - 1)
    return pinned


def _shrink_message(
    messages: list[ChatMessage], position: int, count_tokens: TokenCounter, budget: int
) -> list[ChatMessage]:
    """Elide the middle of one message to the longest text that fits, or to nothing."""
    text = messages[position].content

    def with_kept_chars(n_chars: int) -> list[ChatMessage]:
        trimmed = messages.copy()
        trimmed[position] = replace(messages[position], content=_elide_middle(text, n_chars))
        return trimmed

    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(with_kept_chars(middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    return with_kept_chars(low)


def _elide_middle(text: str, n_chars: int) -> str:
    if n_chars >= len(text):
        return text
    head = n_chars // 2
    tail = n_chars - head
    return text[:head] + ELISION + (text[len(text) - tail :] if tail else "")
