"""A bounded memo: what a question, a term or a short text got, kept until a size limit.

Several hot paths remember results that recur from query to query (a question's term statistics, a
term's keyed hash, a short text's redaction, stacked sketches). Each needs the same thing: a mapping
that never grows past a limit, and forgets everything at once when it would (recurring keys come back
on their next use; no per-entry bookkeeping costs a look-up).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["BoundedMemo"]

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    """A dictionary of at most ``limit`` entries, emptied when an addition would pass the limit.

    Not thread safe by itself: a caller shared between threads holds its own lock around it."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a memo needs a limit of at least 1 entry, not {limit}")
        self.limit = limit
        self._entries: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def __getitem__(self, key: K) -> V:
        return self._entries[key]

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` under ``key`` (forgetting everything first when full); returns ``value``."""
        if key not in self._entries and len(self._entries) >= self.limit:
            self._entries.clear()
        self._entries[key] = value
        return value

    def put_many(self, pairs: Iterable[tuple[K, V]]) -> None:
        """Remember every pair whose key is not kept yet (a kept key keeps its value); forgets everything
        first when they would not all fit beside what is kept. More pairs than the limit keep only the
        last ``limit`` of them."""
        new = [(key, value) for key, value in pairs if key not in self._entries]
        if len(self._entries) + len(new) > self.limit:
            self._entries.clear()
        for key, value in new[-self.limit :]:
            self._entries[key] = value

    def clear(self) -> None:
        self._entries.clear()
