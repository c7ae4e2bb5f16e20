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
    from rag_fed.protocol import Candidate

    listed = [Candidate(chunk_id=3, dense_score=0.25), Candidate(chunk_id=9, dense_score=0.5, keyword_score=2.0)]
    packed = SiteReply.from_bytes(full.model_copy(update={"candidates": listed}).to_bytes())
    assert packed.candidates == listed  # packed arrays on the wire, absent scores as NaN


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
    from rag_fed.site.search import _undominated

    dense = {1: 0.9, 2: 0.8, 3: 0.7, 4: 0.6, 5: 0.1}
    keyword = {1: 9.0, 2: 8.0, 3: 1.0, 5: 7.5, 6: 9.5}
    pool = [(cid, 0.0) for cid in (1, 2, 3, 4, 5, 6)]
    # Beaten in both by: 1 none; 2 by 1; 3 by 1, 2; 4 by 1, 2, 3 (absent keyword is lowest); 5 by 1, 2;
    # 6 by none (best keyword; absent dense).
    assert _undominated(pool, dense, keyword, 2) == {1, 2, 6}
    assert _undominated(pool, dense, keyword, 3) == {1, 2, 3, 5, 6}


def test_candidates_that_make_the_top_k_are_fetched_and_the_rest_never_leave_the_site() -> None:
    import asyncio

    from rag_fed.protocol import Candidate
    from rag_fed.router.term_stats import fill_candidates, is_stub, with_candidates
    from rag_fed.types import Citation, Passage

    citation = Citation(site_id="a", doc_id="a-1", title="t")
    top = Passage(citation=citation, chunk_id=1, text="top", score=0.0, rank=1, dense_score=0.9, keyword_score=2.0)
    reply = SiteReply(
        request_id="r",
        site_id="a",
        status="answered",
        passages=[top],
        embedder_version="v",
        egress="snippets",
        candidates=[Candidate(chunk_id=7, dense_score=0.95), Candidate(chunk_id=8, keyword_score=0.5)],
    )
    ranking = with_candidates("a", reply, 1)
    assert [p.chunk_id for p in ranking] == [1, 7, 8] and [is_stub(p) for p in ranking] == [False, True, True]
    asked: list[tuple[str, list[int]]] = []

    async def fetch(site: str, ids: list[int]) -> list[Passage]:
        asked.append((site, ids))
        return [top.model_copy(update={"chunk_id": i, "text": f"text {i}"}) for i in ids]

    merged = [ranking[1].model_copy(update={"score": 0.8}), top.model_copy(update={"score": 0.5})]
    filled = asyncio.run(fill_candidates(merged, fetch))
    assert asked == [("a", [7])]  # only the candidate in the top k, in one call
    assert [(p.chunk_id, p.text, p.score, p.rank) for p in filled] == [(7, "text 7", 0.8, 1), (1, "top", 0.5, 2)]
