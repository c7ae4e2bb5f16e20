"""Publications of term counts (keyed hashes, floor, noise, privacy cost), the gateway's sums, and the
wire compatibility of the new query and reply fields with peers that predate them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexes.term_counts import TermCounts
from rag_fed.protocol import HybridDepth, QueryTermStats, SiteQuery, SiteReply
from rag_fed.term_stats import (
    FederationTermStats,
    PrivacyLedger,
    PublicationPolicy,
    TermStatsPublication,
    TermStatsRequest,
    build_publication,
    publication_cost,
    term_hashes,
)
from rag_fed.term_stats.privacy import add_noise
from rag_fed.term_stats.publication import noised

pytestmark = pytest.mark.unit

KEY = bytes(range(32))


def _counts(frequencies: dict[str, int], chunks: int = 50) -> TermCounts:
    return TermCounts(version=3, chunks=chunks, column_tokens=(400, 20, 50), frequencies=frequencies)


def _publish(
    site: str, counts: TermCounts, key: bytes = KEY, policy: PublicationPolicy | None = None
) -> TermStatsPublication:
    policy = policy or PublicationPolicy()
    return build_publication(site, f"store@{counts.version}", counts, key, policy, request_id="r1")


def test_a_publication_holds_keyed_hashes_never_the_terms() -> None:
    publication = _publish("north", _counts({"pump": 10, "seal": 3, "ms4471": 1}))
    wire = publication.to_bytes()
    assert b"pump" not in wire and b"seal" not in wire and b"ms4471" not in wire
    hashes, counts = publication.arrays()
    expected = dict(zip(term_hashes(KEY, ["pump", "seal", "ms4471"]).tolist(), [10, 3, 1], strict=True))
    assert dict(zip(hashes.tolist(), counts.tolist(), strict=True)) == expected
    other = _publish("north", _counts({"pump": 10}), key=bytes(32))
    assert other.arrays()[0][0] not in set(hashes.tolist())  # another key


def test_the_floor_leaves_rare_terms_out() -> None:
    publication = _publish("north", _counts({"pump": 10, "seal": 3, "ms4471": 1}), policy=PublicationPolicy(floor=3))
    hashes, counts = publication.arrays()
    assert sorted(counts.tolist()) == [3, 10]
    assert term_hashes(KEY, ["ms4471"])[0] not in set(hashes.tolist())


def test_noise_moves_counts_by_the_mechanism_and_stays_within_the_chunks() -> None:
    values = np.full(20_000, 20, np.int64)
    noisy = add_noise(values, 1.0, np.random.default_rng(0))
    assert noisy.dtype == np.int64 and (noisy != values).mean() > 0.4
    # Discrete Laplace of parameter 1: variance 2 e^-1 / (1 - e^-1)^2 = 1.84.
    assert abs(float(noisy.mean()) - 20) < 0.05 and abs(float(noisy.var()) - 1.84) < 0.1
    counts = noised(_counts({"pump": 50, "seal": 0}), 1.0, np.random.default_rng(1))
    assert all(0 <= n <= 50 for n in counts.frequencies.values())


def test_privacy_cost_per_count_per_chunk_and_over_publications() -> None:
    one = publication_cost(1.0, floor=10, max_terms_per_chunk=40, publications=1)
    assert one.epsilon_per_count == 1.0 and one.epsilon_per_chunk == pytest.approx(40.0)
    assert one.delta_per_chunk == pytest.approx(40 * np.exp(-9) / (1 + np.exp(-1)))
    assert one.epsilon_total == pytest.approx(40.0, rel=1e-3)
    four = publication_cost(1.0, floor=10, max_terms_per_chunk=40, publications=4)
    assert 40.0 < four.epsilon_total <= 160.0 + 1e-6
    assert publication_cost(1.0, floor=1, max_terms_per_chunk=40, publications=1).delta_per_chunk == 1.0


def test_the_ledger_counts_publications_across_restarts(tmp_path: Path) -> None:
    ledger = PrivacyLedger(tmp_path / "ledger.json")
    assert ledger.publications == 0
    ledger.record()
    assert PrivacyLedger(tmp_path / "ledger.json").record() == 2
    (tmp_path / "ledger.json").write_text("{broken")
    with pytest.raises(ValueError, match="damaged"):
        ledger.record()


def test_the_gateway_sums_sites_and_replaces_a_site_s_counts() -> None:
    federation = FederationTermStats(KEY)
    federation.update(_publish("north", _counts({"pump": 10, "seal": 3}, chunks=50)))
    federation.update(_publish("south", _counts({"pump": 5, "valv": 7}, chunks=20)))
    stats = federation.query_stats(["pump", "seal", "valv", "unknown"])
    assert set(stats) == {"north", "south"}
    north = stats["north"]
    assert (north.chunks, north.tokens, north.site_version) == (70, 2 * 470, "store@3")
    assert north.frequencies == {"pump": 15, "seal": 3, "valv": 7, "unknown": 0}
    federation.update(_publish("south", _counts({"pump": 1}, chunks=5)))
    assert federation.query_stats(["pump", "valv"])["south"].frequencies == {"pump": 11, "valv": 0}
    federation.remove("north")
    assert federation.query_stats(["pump"])["south"].chunks == 5
    with pytest.raises(ValueError, match="another key"):
        federation.update(_publish("east", _counts({"pump": 1}), key=bytes(32)))


def test_the_request_carries_the_key() -> None:
    request = TermStatsRequest.for_key(KEY, "abc")
    assert TermStatsRequest.from_bytes(request.to_bytes()).key_bytes() == KEY
    with pytest.raises(ValueError, match="32 bytes"):
        TermStatsRequest.for_key(b"short", "abc")


def test_new_fields_stay_off_the_wire_until_used_so_older_peers_read_the_messages() -> None:
    query = SiteQuery(question="pump seal", embedding=np.ones(4, np.float32), embedder_version="v1", mode="keyword")
    assert "term_stats" not in json.loads(query.to_bytes())
    reply = SiteReply(request_id="r", site_id="north", status="answered", embedder_version="v1", egress="snippets")
    assert not {"term_stats", "term_stats_version", "hybrid_depth"} & set(json.loads(reply.to_bytes()))
    stats = QueryTermStats(site_version="store@3", chunks=70, tokens=900, frequencies={"pump": 15})
    carried = SiteQuery.from_bytes(query.model_copy(update={"term_stats": stats}).to_bytes())
    assert carried.term_stats == stats
    depth = HybridDepth(dense=np.array([0.9, 0.5]), keyword=np.array([7.25, 1.5, 0.125]))
    full = reply.model_copy(update={"term_stats": "global", "term_stats_version": "store@3", "hybrid_depth": depth})
    parsed = SiteReply.from_bytes(full.to_bytes())
    assert parsed.term_stats == "global" and parsed.hybrid_depth is not None
    assert parsed.hybrid_depth.keyword.tolist() == [7.25, 1.5, 0.125]  # float64, bit for bit
    from rag_fed.protocol import Candidates

    packed = Candidates.of([3, 9], [0.25, 0.5], [np.nan, 2.0])
    parsed_candidates = SiteReply.from_bytes(full.model_copy(update={"candidates": packed}).to_bytes()).candidates
    assert parsed_candidates == packed  # packed arrays on the wire, absent scores as NaN, bit for bit
    assert list(parsed_candidates or []) == [(3, 0.25, None), (9, 0.5, 2.0)]
    # one object per candidate (what sites sent before the arrays) still parses to the same
    listed = json.loads(full.to_bytes())
    listed["candidates"] = [
        {"chunk_id": 3, "dense_score": 0.25},
        {"chunk_id": 9, "dense_score": 0.5, "keyword_score": 2.0},
    ]
    assert SiteReply.model_validate_json(json.dumps(listed)).candidates == packed
    for bad in ([-1], [1.5]):
        with pytest.raises(ValueError):
            Candidates.of(bad, [0.1], [0.2])


def test_a_question_of_huge_or_countless_terms_gets_no_statistics_rather_than_an_error() -> None:
    from rag_fed.router.term_stats import GatewayTermStats

    gateway = GatewayTermStats(lambda payload, site: payload, lambda data, site: data, FederationTermStats(KEY))
    gateway.federation.update(_publish("north", _counts({"pump": 10})))
    assert gateway.for_query("x" * 7000 + " pump", "keyword")["north"].frequencies["pump"] == 10
    countless = "-".join(f"w{n}" for n in range(600))
    assert gateway.for_query(countless, "keyword") == {}


def test_the_exact_hybrid_merge_scales_over_the_sites_depths_and_copes_with_no_sites() -> None:
    from rag_fed.router.merge import merge_passages
    from rag_fed.types import Citation, Passage

    def passage(site: str, chunk: int, dense: float | None, keyword: float | None) -> Passage:
        citation = Citation(site_id=site, doc_id=f"{site}-{chunk}", title="t")
        return Passage(
            citation=citation,
            chunk_id=chunk,
            text="x",
            score=0.0,
            rank=1 + chunk % 50,
            dense_score=dense,
            keyword_score=keyword,
        )

    assert merge_passages({}, 5, "hybrid", {}, {}) == []
    rankings = {"a": [passage("a", 1, 0.9, 4.0), passage("a", 2, 0.5, None)], "b": [passage("b", 3, None, 8.0)]}
    depths = {
        "a": HybridDepth(dense=np.array([0.9, 0.5, 0.4]), keyword=np.array([4.0, 2.0])),
        "b": HybridDepth(dense=np.array([0.6]), keyword=np.array([8.0, 1.0])),
    }
    merged = {p.chunk_id: p.score for p in merge_passages(rankings, 5, "hybrid", {}, depths)}
    # Global dense bounds 0.4..0.9, keyword 1.0..8.0 (the sites' depths, not only what they returned).
    assert merged[1] == pytest.approx(0.5 * 1.0 + 0.5 * (4.0 - 1.0) / 7.0)
    assert merged[2] == pytest.approx(0.5 * (0.5 - 0.4) / 0.5)
    assert merged[3] == pytest.approx(0.5 * 1.0)


def test_candidates_are_the_chunks_fewer_than_k_others_beat_in_both_rankings() -> None:
    from rag_fed.site.search import undominated_beyond

    absent = -np.inf
    dense = np.array([0.9, 0.8, 0.7, 0.6, 0.1, absent])  # chunks 1..6
    keyword = np.array([9.0, 8.0, 1.0, absent, 7.5, 9.5])
    # Beaten in both by: 1 none; 2 by 1; 3 by 1, 2; 4 by 1, 2, 3 (absent keyword is lowest); 5 by 1, 2;
    # 6 by none (best keyword; absent dense). The first k are passages, not candidates.
    assert undominated_beyond(dense, keyword, 2).tolist() == [5]
    assert undominated_beyond(dense, keyword, 3).tolist() == [4, 5]
    assert undominated_beyond(dense, keyword, 6).tolist() == []


@pytest.mark.parametrize("seed", range(40))
def test_the_pruned_dominance_count_equals_comparing_every_pair(seed: int) -> None:
    """``undominated_beyond`` compares with the fusion's best 2k first and only the rest with all: it must
    keep exactly the chunks a comparison of every pair keeps, ties and absent scores included."""
    from rag_fed.site.search import undominated_beyond

    rng = np.random.default_rng(seed)
    size, k = int(rng.integers(1, 220)), int(rng.integers(1, 45))
    dense = rng.integers(0, 12, size).astype(np.float64)  # few values: many ties
    keyword = rng.integers(0, 12, size).astype(np.float64)
    dense[rng.random(size) < 0.3] = -np.inf
    keyword[(rng.random(size) < 0.3) & np.isfinite(dense)] = -np.inf
    order = np.argsort(-(np.where(np.isfinite(dense), dense, 0) + np.where(np.isfinite(keyword), keyword, 0)))
    dense, keyword = dense[order], keyword[order]  # best first by a fusion, as the site's pool is
    d_row, s_row, d_col, s_col = dense[:, None], keyword[:, None], dense[None, :], keyword[None, :]
    beats = (d_row >= d_col) & (s_row >= s_col) & ((d_row > d_col) | (s_row > s_col))
    kept = np.flatnonzero(beats.sum(axis=0) < k)
    assert undominated_beyond(dense, keyword, k).tolist() == kept[kept >= k].tolist()


def test_candidates_that_make_the_top_k_are_fetched_and_the_rest_never_leave_the_site() -> None:
    import asyncio

    from rag_fed.protocol import Candidates
    from rag_fed.router.merge import merge_passages
    from rag_fed.router.term_stats import fill_candidates, is_stub
    from rag_fed.types import Citation, Passage

    citation = Citation(site_id="a", doc_id="a-1", title="t")
    top = Passage(citation=citation, chunk_id=1, text="top", score=0.0, rank=1, dense_score=0.5, keyword_score=1.0)
    depths = {"a": HybridDepth(dense=np.array([0.95, 0.5, 0.1]), keyword=np.array([2.0, 1.0, 0.1]))}
    candidates = {"a": Candidates.of([7, 8], [0.95, np.nan], [np.nan, 0.5])}
    # Fused: chunk 7 0.5 (best dense), chunk 1 0.5 * 0.4 / 0.85 + 0.5 * 0.9 / 1.9 = 0.47, chunk 8 0.11.
    merged = merge_passages({"a": [top]}, 2, "hybrid", {"a": "v"}, depths, candidates)
    assert [(p.chunk_id, is_stub(p)) for p in merged] == [(7, True), (1, False)]
    assert merged[0].score == pytest.approx(0.5) and merged[1].score == pytest.approx(0.2353 + 0.2368, abs=1e-4)
    asked: list[tuple[str, list[int]]] = []

    async def fetch(site: str, ids: list[int]) -> list[Passage]:
        asked.append((site, ids))
        return [top.model_copy(update={"chunk_id": i, "text": f"text {i}"}) for i in ids]

    filled = asyncio.run(fill_candidates(merged, fetch, 2))
    assert asked == [("a", [7])]  # only the candidate in the top k, in one call; chunk 8 never became a passage
    assert [(p.chunk_id, p.text, p.rank) for p in filled] == [(7, "text 7", 1), (1, "top", 2)]


@pytest.mark.parametrize("seed", range(12))
def test_merging_candidates_as_arrays_equals_merging_every_candidate_as_a_passage(seed: int) -> None:
    """The merge turns into passages only the candidates that can reach the top k: the result must be
    the one of a merge that gets every candidate as a passage (ties at the k-th place included)."""
    from rag_fed.protocol import Candidates
    from rag_fed.router.merge import merge_passages
    from rag_fed.types import Citation, Passage

    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 12))
    rankings: dict[str, list[Passage]] = {}
    stubbed: dict[str, list[Passage]] = {}
    candidates: dict[str, Candidates] = {}
    depths: dict[str, HybridDepth | None] = {}

    def score() -> float | None:
        return None if rng.random() < 0.25 else float(rng.integers(0, 6)) / 4  # few values: ties

    for site in ("a", "b", "c"):
        count, extra = int(rng.integers(0, k + 1)), int(rng.integers(0, 30))
        passages = []
        for number in range(count):
            dense, keyword = score(), score()
            citation = Citation(site_id=site, doc_id=f"{site}-{number % 3}", title="t")
            passages.append(
                Passage(
                    citation=citation,
                    chunk_id=number,
                    text="x",
                    score=0.0,
                    rank=number + 1,
                    dense_score=dense if dense is not None or keyword is not None else 0.5,
                    keyword_score=keyword,
                )
            )
        ids = np.arange(100, 100 + extra)
        dense_c = np.where(rng.random(extra) < 0.3, np.nan, rng.integers(0, 6, extra) / 4)
        keyword_c = np.where(np.isnan(dense_c) | (rng.random(extra) < 0.7), rng.integers(0, 6, extra) / 4, np.nan)
        candidates[site] = Candidates.of(ids, dense_c, keyword_c)
        rankings[site] = passages
        stubbed[site] = passages + [
            Passage(
                citation=Citation(site_id=site, doc_id="", title=""),
                chunk_id=int(chunk),
                text="",
                score=0.0,
                rank=k + number + 1,
                dense_score=dense,
                keyword_score=keyword,
            )
            for number, (chunk, dense, keyword) in enumerate(candidates[site])
        ]
        depths[site] = HybridDepth(dense=rng.random(int(rng.integers(1, 20))), keyword=rng.random(5) * 2)
    versions = dict.fromkeys(rankings, "v")
    expected = merge_passages(stubbed, k, "hybrid", versions, depths)
    merged = merge_passages(rankings, k, "hybrid", versions, depths, candidates)
    assert [(p.citation.site_id, p.chunk_id, p.score, p.rank) for p in merged] == [
        (p.citation.site_id, p.chunk_id, p.score, p.rank) for p in expected
    ]


def test_the_gateway_remembers_a_question_s_statistics_until_the_sums_change() -> None:
    import asyncio

    from rag_fed.router.term_stats import GatewayTermStats

    gateway = GatewayTermStats(lambda payload, site: payload, lambda data, site: data, FederationTermStats(KEY))
    federation = gateway.federation
    ask = lambda: asyncio.run(gateway.with_phrases("pump seal", "hybrid", {}, 1.0))  # noqa: E731
    assert ask() == {}  # nothing published yet
    federation.update(_publish("north", _counts({"pump": 10, "seal": 3})))
    first = ask()
    assert first["north"].frequencies == {"pump": 10, "seal": 3}
    assert ask() is first  # remembered: not tokenised, hashed nor built again
    gateway.forget_questions()
    again = ask()
    assert again == first and again is not first
    assert asyncio.run(gateway.with_phrases("pump seal", "dense", {}, 1.0)) == {}
    federation.update(_publish("south", _counts({"pump": 5}, chunks=20)))
    second = ask()
    assert {site: s.frequencies for site, s in second.items()} == {
        "north": {"pump": 15, "seal": 3},
        "south": {"pump": 15, "seal": 3},
    }
    federation.remove("south")
    assert set(ask()) == {"north"} and ask()["north"].frequencies == {"pump": 10, "seal": 3}
    federation.retain([])
    assert ask() == {}
