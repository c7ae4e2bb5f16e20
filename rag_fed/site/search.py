"""A site's ranking of its chunks for one query: dense, keyword, or both fused (hybrid).

Each ranked chunk keeps the scores of its components (cosine, BM25) beside the score it is ranked by, so
that the router can rebuild one global dense and one global keyword ranking over all sites and fuse those,
as a central index would, instead of fusing the sites' already-fused lists (docs/benchmarks.md).

In hybrid mode the keyword ranking (SQLite FTS5) runs in a small long-lived thread pool while this thread
runs the dense one (FAISS): both release the GIL, so hybrid costs about the slower of the two instead of
their sum. The pool is shared by every site of the process and created on first use; a thread per query
would cost more than it saves on small stores.

Ties: chunks of equal score are ordered by document id, then by their ordinal in the document, in every
ranking (dense, keyword, fused), and a ranking cut at ``k`` in the middle of a tie keeps the tied chunks
first in that order (the search looks past ``k`` until the tie ends). A central index and the federation
(whose router breaks ties by the same key) then give the same list when sections repeat the same text,
and two runs give the same list whatever order the chunks were added in.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter

import numpy as np
from numpy.typing import NDArray

from indexes import DocStore, SiteStore, set_search_threads
from indexes.keyword_index import CorpusStats, KeywordRanking
from rag_fed.config import SearchSettings
from rag_fed.fusion import HYBRID_DEPTH, fuse_min_max
from rag_fed.types import SearchMode
from rag_fed.wire.hybrid import Candidates

__all__ = [
    "HYBRID_DEPTH",
    "KEYWORD_WORKERS",
    "RankedChunk",
    "SiteRanking",
    "break_ties",
    "rank_chunks",
    "rank_chunks_with",
    "undominated_beyond",
]


MAX_CANDIDATES = 100
"""At most this many candidates beyond the top k go with a hybrid reply (the protocol's passage limit)."""

KEYWORD_WORKERS = 4
"""Threads that run keyword rankings beside dense ones. Each site's docstore serialises its own keyword
searches on one connection, so more threads only help when several sites share the process."""

_Floats = NDArray[np.float64]
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class RankedChunk:
    """One chunk of a site's ranking: the score it is ranked by and its component scores."""

    chunk_id: int
    score: float
    dense_score: float | None = None
    keyword_score: float | None = None


@dataclass(frozen=True)
class SiteRanking:
    """A ranking with what it was computed from: ``global_stats`` whether BM25 used the federation's
    statistics (``None``: none were given, or dense mode); in hybrid mode ``dense_depth`` and
    ``keyword_depth`` are the scores of both rankings down to ``HYBRID_DEPTH``, best first (the router
    needs them to scale the global rankings as a central index would)."""

    chunks: list[RankedChunk]
    global_stats: bool | None = None
    dense_depth: NDArray[np.float64] | None = None
    keyword_depth: NDArray[np.float64] | None = None
    candidates: Candidates | None = None
    """Hybrid with statistics: the chunks beyond the top ``k`` that fewer than ``k`` chunks of this site beat
    in both rankings: any of them may be in the central top ``k`` (the router's fusion, whatever its
    scaling bounds, ranks a chunk below every chunk that beats it in both), best first by the site's fusion."""


def rank_chunks(
    store: SiteStore,
    question: str,
    vector: NDArray[np.float32] | None,
    k: int,
    mode: SearchMode,
    *,
    concurrent: bool = True,
) -> list[RankedChunk]:
    """The best ``k`` chunks of ``store`` for the query, best first. ``vector`` is needed unless keyword.

    ``concurrent=False`` runs the two rankings of hybrid mode one after the other; the result is the same.
    Do not call it inside a transaction of ``store`` held by this thread: the pool thread would wait for
    the docstore lock that this thread holds.
    """
    return rank_chunks_with(store, question, vector, k, mode, concurrent=concurrent).chunks


def rank_chunks_with(
    store: SiteStore,
    question: str,
    vector: NDArray[np.float32] | None,
    k: int,
    mode: SearchMode,
    *,
    stats: CorpusStats | None = None,
    concurrent: bool = True,
) -> SiteRanking:
    """``rank_chunks``, with BM25 computed from a federation's ``stats`` where the store can
    (``SQLiteDocStore.keyword_ranking``), and what the ranking was computed from."""
    if mode == "keyword":
        ranking = _keyword(store, question, k, stats)
        chunks = [RankedChunk(cid, score, keyword_score=score) for cid, score in ranking.hits]
        return SiteRanking(chunks, ranking.global_stats if stats is not None else None)
    if vector is None:
        raise ValueError(f"{mode} search needs the query vector")
    query = np.asarray(vector, np.float32).reshape(1, -1)
    if mode == "dense":
        dense_hits = _dense(store, query, k)
        return SiteRanking([RankedChunk(cid, score, dense_score=score) for cid, score in dense_hits])
    depth = max(k, HYBRID_DEPTH)
    if concurrent:
        keyword_future = _keyword_pool().submit(_keyword, store, question, depth, stats)
        try:
            dense = _dense(store, query, depth)
        finally:
            ranking = keyword_future.result()  # never leave the keyword search running on its own
    else:
        dense = _dense(store, query, depth)
        ranking = _keyword(store, question, depth, stats)
    keyword = ranking.hits
    dense_scores, keyword_scores = dict(dense), dict(keyword)
    pool = break_ties(store.docstore, fuse_min_max([dense, keyword]))
    chunks = [RankedChunk(cid, score, dense_scores.get(cid), keyword_scores.get(cid)) for cid, score in pool[:k]]
    if stats is None:
        return SiteRanking(chunks)
    return SiteRanking(
        chunks,
        ranking.global_stats,
        _scores_of(dense[:HYBRID_DEPTH]),
        _scores_of(keyword[:HYBRID_DEPTH]),
        _candidates(pool, dense_scores, keyword_scores, k),
    )


def _scores_of(hits: list[tuple[int, float]]) -> _Floats:
    """The scores of ``hits`` as a read-only array (a reply's ``hybrid_depth``)."""
    scores = np.fromiter(map(itemgetter(1), hits), np.float64, len(hits))
    scores.setflags(write=False)
    return scores


def _candidates(
    pool: list[tuple[int, float]], dense: dict[int, float], keyword: dict[int, float], k: int
) -> Candidates:
    """The chunks of ``pool`` (best first) beyond its first ``k`` that fewer than ``k`` chunks of the pool
    beat in both rankings, best first, at most ``MAX_CANDIDATES``; absent scores are NaN. The pool's two
    scores go into arrays once, and the candidates stay arrays (no object per chunk)."""
    size = len(pool)
    pool_ids = list(map(itemgetter(0), pool))
    d = np.fromiter(map(dense.get, pool_ids, repeat(-np.inf)), np.float64, size)  # -inf: absent
    s = np.fromiter(map(keyword.get, pool_ids, repeat(-np.inf)), np.float64, size)
    chosen = undominated_beyond(d, s, k)[:MAX_CANDIDATES]
    ids, d, s = np.array(pool_ids, np.int64)[chosen], d[chosen], s[chosen]  # fancy indexing: copies
    d[np.isneginf(d)] = np.nan
    s[np.isneginf(s)] = np.nan
    for array in (ids, d, s):
        array.setflags(write=False)
    return Candidates(ids, d, s)  # made here from the site's own scores: what ``Candidates.of`` checks holds


def undominated_beyond(dense: _Floats, keyword: _Floats, k: int) -> NDArray[np.intp]:
    """The positions from ``k`` on of the chunks that fewer than ``k`` others beat in both rankings (at
    least as good in both, better in one; an absent score is -inf), in order, given the two scores of
    each chunk, aligned and best first by fusion. The first ``k`` are not counted: they are passages.

    Exact, without comparing every pair when ``k`` is small beside the pool: each chunk is compared with
    the fusion's best ``2k`` first, and a chunk that ``k`` of them beat is out; only the chunks left
    (about ten at k = 5 on the S10 manual's sites) are compared with every chunk."""
    if len(dense) <= k:
        return np.empty(0, np.intp)
    head = min(len(dense), 2 * k)
    left = np.flatnonzero(_beaten_by(dense[:head], keyword[:head], dense[k:], keyword[k:]) < k)
    if not left.size:
        return left
    left += k
    return left[_beaten_by(dense, keyword, dense[left], keyword[left]) < k]


def _beaten_by(by_dense: _Floats, by_keyword: _Floats, dense: _Floats, keyword: _Floats) -> NDArray[np.int64]:
    """For each chunk of (``dense``, ``keyword``): how many of (``by_dense``, ``by_keyword``) beat it in both."""
    d_row, s_row, d_col, s_col = by_dense[:, None], by_keyword[:, None], dense[None, :], keyword[None, :]
    beats = (d_row >= d_col) & (s_row >= s_col) & ((d_row > d_col) | (s_row > s_col))
    counts: NDArray[np.int64] = beats.sum(axis=0, dtype=np.int64)
    return counts


def _keyword(store: SiteStore, question: str, k: int, stats: CorpusStats | None) -> KeywordRanking:
    used_stats: list[bool] = []

    def search(depth: int) -> list[tuple[int, float]]:
        if stats is None:
            return store.keyword_search(question, depth)
        ranking = store.keyword_ranking(question, depth, stats=stats)
        used_stats.append(ranking.global_stats)
        return ranking.hits

    return KeywordRanking(_top_with_ties(store.docstore, search, k), bool(used_stats) and used_stats[-1])


def _dense(store: SiteStore, query: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
    def search(depth: int) -> list[tuple[int, float]]:
        scores, ids = store.search(query, depth)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    return _top_with_ties(store.docstore, search, k)


def _top_with_ties(
    docstore: DocStore, search: Callable[[int], list[tuple[int, float]]], k: int
) -> list[tuple[int, float]]:
    """The best ``k`` of a best-first ``search(depth)``, ties broken by ``break_ties``: searched one deeper
    than ``k`` (and deeper while the tie at the ``k``-th score goes on), so that which of several tied
    chunks make the cut is decided by the key, not by the index's internal order."""
    depth = k + 1
    while True:
        hits = search(depth)
        if len(hits) < depth or hits[-1][1] < hits[k - 1][1]:
            break
        depth *= 2
    if len(hits) > k:
        last = hits[k - 1][1]
        hits = [hit for hit in hits if hit[1] >= last]
    return break_ties(docstore, hits)[:k]


def break_ties(docstore: DocStore, ranking: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """``ranking`` (best first) with each run of equal scores ordered by (document id, chunk ordinal).
    Only the tied chunks are looked up."""
    counts = Counter(score for _, score in ranking)
    tied = [cid for cid, score in ranking if counts[score] > 1]
    if not tied:
        return ranking
    keys = {chunk.chunk_id: (chunk.doc_id, chunk.ordinal) for chunk in docstore.get_chunks(tied)}
    return sorted(ranking, key=lambda hit: (-hit[1], keys.get(hit[0], ("", hit[0]))))


def _keyword_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=KEYWORD_WORKERS, thread_name_prefix="ragfed-keyword")
        return _pool


def apply_search_threads(settings: SearchSettings) -> None:
    """Let every FAISS search of this process use ``settings.faiss_threads`` OpenMP threads (0: FAISS's
    default, the number of cores). A service applies it once at start; the setting is per process, so
    the last site opened in a host decides."""
    set_search_threads(settings.faiss_threads or None)
