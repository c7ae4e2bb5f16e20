"""``KeywordIndex``: an in-memory inverted index that ranks chunks exactly as FTS5's ``bm25()`` does.

FTS5 scores every row that matches any query term, row by row, before it can sort them: on a store of
100k chunks a query of a few common words costs tens of milliseconds. This index holds, for each term,
the chunks that contain it and the term's column-weighted frequency in each (FTS5's ``aFreq``), plus each
chunk's length in tokens, and scores a whole posting list at once with numpy. It computes FTS5's formula:

    score = sum over phrases of idf * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgdl))
    idf = ln((N - n + 0.5) / (n + 0.5)), raised to 1e-6 when not positive; k1 = 1.2, b = 0.75

where ``f`` is the weighted frequency, ``D`` the chunk's length, ``N`` the chunks held, ``n`` the chunks a
phrase occurs in. Its input comes from FTS5 itself (``indexes/_keyword_mirror.py`` reads FTS5's own
tokens), so terms, stems and lengths are FTS5's, and the contract test checks that both rank alike.

``search`` may be given a federation's statistics instead of the index's own (``CorpusStats``: ``N``, the
total length and each term's ``n`` over all sites' chunks): the scores are then those of one index over
all those chunks, which is what makes keyword scores of different sites comparable
(docs/term-statistics.md).

Chunks live in *slots*, numbered as they are added; a removed chunk's slot is marked dead and its
postings are dropped the next time a query reads that term. Not thread-safe: the mirror locks it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np
from numpy.typing import NDArray

from indexes.base import IdArray

__all__ = ["K1", "B", "CorpusStats", "KeywordIndex", "KeywordRanking", "Postings", "bm25_idf"]

K1 = 1.2
B = 0.75
_MIN_IDF = 1e-6

Postings = tuple[IdArray, NDArray[np.float64]]
"""(chunk ids, weighted frequencies) of one term, aligned."""

Scored = tuple[IdArray, NDArray[np.float64]]
"""(chunk ids, BM25 contribution) of one phrase scored elsewhere, aligned."""


@dataclass(frozen=True)
class CorpusStats:
    """The statistics BM25 is computed with: ``rows`` chunks of ``tokens`` tokens in all (all columns, as
    FTS5 counts a chunk's length), ``frequencies``: the chunks that hold each term (FTS5's ``n``), and
    ``phrase_frequencies``: the chunks that hold each FTS5 phrase of several tokens, where counted."""

    rows: int
    tokens: float
    frequencies: Mapping[str, float]
    phrase_frequencies: Mapping[str, float] = field(default_factory=dict)

    @property
    def avgdl(self) -> float:
        return self.tokens / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class KeywordRanking:
    """``hits``: ``[(chunk_id, score)]`` best first; ``global_stats``: whether BM25 used the statistics given
    (a federation's) rather than the store's own."""

    hits: list[tuple[int, float]]
    global_stats: bool


def bm25_idf(rows: float, hits: float) -> float:
    """FTS5's idf: ``ln((N - n + 0.5) / (n + 0.5))``, raised to 1e-6 when not positive."""
    idf = math.log((rows - hits + 0.5) / (hits + 0.5)) if rows > 0 else 0.0
    return idf if idf > 0 else _MIN_IDF


class KeywordIndex:
    """Postings by term over slots of chunks; see the module docstring."""

    def __init__(self) -> None:
        self._slot_of: dict[int, int] = {}  # live chunk id -> slot
        self._chunk_ids = np.empty(0, np.int64)  # slot -> chunk id
        self._lengths = np.empty(0, np.float64)  # slot -> tokens in the chunk (all columns)
        self._live = np.empty(0, np.bool_)
        self._size = 0  # slots used
        self._terms: dict[str, list[tuple[NDArray[np.int64], NDArray[np.float64]]]] = {}
        self._rows = 0
        self._tokens = 0.0

    @property
    def rows(self) -> int:
        """Chunks held (live)."""
        return self._rows

    @property
    def total_tokens(self) -> float:
        return self._tokens

    def add(self, chunk_ids: IdArray, lengths: NDArray[np.float64], postings: Mapping[str, Postings]) -> None:
        """Add chunks (replacing any held under the same id) with their lengths and their postings by term.

        Every chunk id in ``postings`` must be among ``chunk_ids``.
        """
        chunk_ids = np.asarray(chunk_ids, np.int64)
        if len(np.unique(chunk_ids)) != len(chunk_ids):
            raise ValueError("chunk ids to add must be distinct")
        self.remove(chunk_ids)
        order = np.argsort(chunk_ids, kind="stable")
        sorted_ids = chunk_ids[order]
        first = self._size
        self._grow(len(chunk_ids))
        slots = np.arange(first, first + len(chunk_ids), dtype=np.int64)
        self._chunk_ids[slots] = sorted_ids
        self._lengths[slots] = np.asarray(lengths, np.float64)[order]
        self._live[slots] = True
        self._size += len(chunk_ids)
        self._slot_of.update(zip(sorted_ids.tolist(), slots.tolist(), strict=True))
        self._rows += len(chunk_ids)
        self._tokens += float(self._lengths[slots].sum())
        for term, (ids, freqs) in postings.items():
            ids = np.asarray(ids, np.int64)
            where = np.searchsorted(sorted_ids, ids)
            if ids.size and (where.max() >= len(sorted_ids) or np.any(sorted_ids[where] != ids)):
                raise ValueError(f"postings of {term!r} name chunks that are not being added")
            self._terms.setdefault(term, []).append((first + where, np.asarray(freqs, np.float64)))

    def remove(self, chunk_ids: IdArray | Sequence[int]) -> None:
        """Forget these chunks; ids not held are ignored."""
        for chunk_id in np.asarray(chunk_ids, np.int64).tolist():
            slot = self._slot_of.pop(chunk_id, None)
            if slot is None:
                continue
            self._live[slot] = False
            self._rows -= 1
            self._tokens -= float(self._lengths[slot])

    def postings(self, term: str) -> Postings:
        """The live chunks holding ``term`` and its weighted frequency in each."""
        slots, freqs = self._slot_postings(term)
        return self._chunk_ids[slots], freqs

    @property
    def stats(self) -> CorpusStats:
        """The index's own statistics (frequencies are read per term: see ``frequency``)."""
        return CorpusStats(self._rows, self._tokens, {})

    def frequency(self, term: str) -> int:
        """Live chunks holding ``term``."""
        return int(self._slot_postings(term)[0].size)

    def search(
        self, phrases: Sequence[str | Scored], k: int, stats: CorpusStats | None = None
    ) -> list[tuple[int, float]]:
        """``[(chunk_id, score)]``, best first, ties by chunk id. A phrase is a term of this index, or a
        phrase scored elsewhere: its chunk ids and its BM25 contribution in each (``Scored``; FTS5 scores
        phrases of several tokens, which need token positions). Scores are FTS5's ``-bm25()``, computed
        with ``stats`` when given (every term must be in its ``frequencies``), else with the index's own.
        A term's count in ``stats`` is first raised to at least this index's own (the chunks its postings
        hold): a federation's count includes this index's, so it is lower only where a floor or noise
        lowered it (docs/term-statistics.md). ``stats.rows`` is taken as it is."""
        if self._rows == 0 or k <= 0:
            return []
        avgdl = stats.avgdl if stats is not None else self._tokens / self._rows
        scores = np.zeros(self._size, np.float64)
        for phrase in phrases:
            if not isinstance(phrase, str):
                ids, contributions = phrase
                slots = self._slots_of(ids)
                held = slots >= 0
                scores[slots[held]] += np.asarray(contributions, np.float64)[held]
                continue
            slots, freqs = self._slot_postings(phrase)
            if not slots.size:
                continue
            if stats is None:
                idf = bm25_idf(self._rows, slots.size)
            else:
                # raised here, where the postings are at hand: counting them again costs a pass per term
                idf = bm25_idf(stats.rows, max(float(stats.frequencies[phrase]), slots.size))
            norm = K1 * (1 - B + B * self._lengths[slots] / avgdl)
            scores[slots] += idf * freqs * (K1 + 1) / (freqs + norm)  # a term's slots are distinct
        matched = np.flatnonzero(scores > 0)
        if len(matched) > k:
            # Everything tied with the k-th best stays a candidate, so ties break by chunk id.
            kth = np.partition(scores[matched], len(matched) - k)[len(matched) - k]
            matched = matched[scores[matched] >= kth]
        found, best = self._chunk_ids[matched], scores[matched]
        order = np.lexsort((found, -best))[:k]
        return [(int(found[i]), float(best[i])) for i in order]

    def rescore(self, scored: Scored, stats: CorpusStats, hits: float) -> Scored:
        """A phrase's FTS5 contributions (computed with this index's statistics) recomputed with ``stats``,
        the phrase occurring in ``hits`` chunks overall. FTS5's contribution is ``idf * g(f, D, avgdl)``
        and its idf follows from the rows it matched, so the weighted frequency ``f`` of the phrase in
        each chunk is recovered exactly (up to rounding) from it, and scored again."""
        ids, contributions = scored
        slots = self._slots_of(ids)
        held = slots >= 0
        ids, slots = np.asarray(ids, np.int64)[held], slots[held]
        saturation = np.asarray(contributions, np.float64)[held] / bm25_idf(self._rows, len(ids))
        lengths = self._lengths[slots]
        local_norm = K1 * (1 - B + B * lengths / (self._tokens / self._rows))
        freqs = saturation * local_norm / np.maximum(K1 + 1 - saturation, 1e-12)
        norm = K1 * (1 - B + B * lengths / stats.avgdl)
        return ids, bm25_idf(stats.rows, hits) * freqs * (K1 + 1) / (freqs + norm)

    def _slots_of(self, ids: IdArray) -> NDArray[np.int64]:
        """The slot of each chunk id, -1 where the chunk is not held."""
        chunk_ids = np.asarray(ids, np.int64).tolist()
        return np.fromiter(map(self._slot_of.get, chunk_ids, repeat(-1)), np.int64, count=len(chunk_ids))

    def _slot_postings(self, term: str) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        parts = self._terms.get(term)
        if not parts:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        slots = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        freqs = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
        live = self._live[slots]
        if len(parts) > 1 or not live.all():
            slots, freqs = slots[live], freqs[live]  # compacted in place for the next query
            if slots.size:
                self._terms[term] = [(slots, freqs)]
            else:
                del self._terms[term]
        return slots, freqs

    def _grow(self, extra: int) -> None:
        needed = self._size + extra
        if needed <= len(self._chunk_ids):
            return
        capacity = max(needed, 2 * len(self._chunk_ids), 1024)
        self._chunk_ids = np.resize(self._chunk_ids, capacity)
        self._lengths = np.resize(self._lengths, capacity)
        live = np.zeros(capacity, np.bool_)
        live[: self._size] = self._live[: self._size]
        self._live = live
