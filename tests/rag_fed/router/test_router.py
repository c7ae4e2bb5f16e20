"""The router over in-process fake sites: fan-out, one deadline, failures reported, breakers, sketches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
import pytest

from rag_fed.crypto import KeyPair
from rag_fed.errors import InputError, SiteUnavailableError
from rag_fed.protocol import SiteReply
from rag_fed.router import FederatedResult, InProcessSiteClient, Router
from rag_fed.site.sketch import build_sketch
from tests.rag_fed.router.fakes import VERSION, FakeSite, evidence_of, passage, unit_vector

pytestmark = pytest.mark.unit

MakeRouter = Callable[..., Router]


def _ask(router: Router, k: int = 3, mode: str = "dense", **kwargs: object) -> FederatedResult:
    return asyncio.run(router.query("pump seal leaks?", unit_vector(), VERSION, k=k, mode=mode, **kwargs))  # type: ignore[arg-type]


def _status(result: FederatedResult) -> dict[str, str]:
    return {site.site_id: site.status for site in result.sites}


@pytest.fixture
def three_sites(gateway_keys: KeyPair) -> list[FakeSite]:
    return [
        FakeSite("north", gateway_keys, [passage("north", 1, 0.9, 1), passage("north", 2, 0.5, 2)], "seal [n]"),
        FakeSite("south", gateway_keys, [passage("south", 7, 0.8, 1), passage("south", 8, 0.1, 2)], "gland"),
        FakeSite("east", gateway_keys, [passage("east", 3, 0.6, 1)], None),
    ]


def test_all_sites_answer_and_passages_are_fused_by_score(make_router: MakeRouter, three_sites: list[FakeSite]) -> None:
    result = _ask(make_router(three_sites), k=3)
    assert _status(result) == {"east": "answered", "north": "answered", "south": "answered"}
    assert [(p.citation.site_id, p.chunk_id) for p in result.passages] == [
        ("north", 1),
        ("south", 7),
        ("east", 3),
    ]
    assert {a.site_id for a in result.answers} == {"north", "south"}  # east sent no answer
    for site in result.sites:
        assert site.bytes_sent > 100 and site.bytes_received > 100 and site.latency_ms > 0
    # The site got the gateway's embedding bit for bit, the version and k.
    query = three_sites[0].last_query
    assert query is not None and np.array_equal(query.embedding, unit_vector()) and query.k == 3


def test_every_answering_sites_evidence_is_collected_in_site_order(
    make_router: MakeRouter, three_sites: list[FakeSite]
) -> None:
    north, south, east = three_sites
    north.evidence = [evidence_of(north.passages[0], 0.4), evidence_of(north.passages[1], 0.3)]
    south.evidence = [evidence_of(south.passages[0], 0.9)]
    east.fail = RuntimeError("disk on fire")
    east.evidence = [evidence_of(east.passages[0], 0.99)]
    result = _ask(make_router(three_sites), k=3)
    # Not ranked: the composer ranks; the router only gathers, in a stable order (site ids).
    assert [(e.citation.site_id, e.chunk_id) for e in result.evidence] == [("north", 1), ("north", 2), ("south", 7)]
    assert {a.site_id: len(a.evidence) for a in result.answers} == {"north": 2, "south": 1}
    assert north.last_query is not None and north.last_query.want_answer and not north.last_query.phrase
    # The site is told how long the gateway waits, so it can skip model work nobody will read.
    deadline = make_router(three_sites).policy.deadline_s
    assert north.last_query.deadline_s is not None and 0 < north.last_query.deadline_s <= deadline
    phrased = _ask(make_router(three_sites), k=3, phrase=True)
    assert north.last_query.phrase and len(phrased.evidence) == 3
    retrieval_only = _ask(make_router(three_sites), k=3, want_answer=False)
    assert retrieval_only.evidence == [] and north.last_query is not None and not north.last_query.want_answer
    assert north.last_query.deadline_s is None, "no model work: no deadline travels"


def test_a_slow_site_times_out_under_one_deadline_and_the_others_still_count(
    make_router: MakeRouter, three_sites: list[FakeSite]
) -> None:
    three_sites[1].delay_s = 3.0
    router = make_router(three_sites, deadline_s=0.8)

    async def timed() -> tuple[FederatedResult, float]:
        started = time.perf_counter()
        result = await router.query("pump seal leaks?", unit_vector(), VERSION, k=3)
        return result, time.perf_counter() - started

    # (asyncio.run itself then waits for the sleeping worker thread; the query must not.)
    result, elapsed = asyncio.run(timed())
    assert elapsed < 1.5, f"the deadline was not kept: {elapsed:.2f} s"
    assert _status(result)["south"] == "timed_out"
    south = next(site for site in result.sites if site.site_id == "south")
    assert south.error is not None and "deadline" in south.error
    assert {p.citation.site_id for p in result.passages} == {"north", "east"}
    assert [o.site_id for o in result.missing] == ["south"]


def test_failures_and_bad_replies_are_reported_not_raised(
    make_router: MakeRouter, three_sites: list[FakeSite], gateway_keys: KeyPair
) -> None:
    north, south, east = three_sites
    south.fail = SiteUnavailableError("disk on fire")
    impostor = KeyPair.generate()
    router = make_router(three_sites)

    # east answers, but seals its reply with a key the gateway does not know for it.
    def forged(sealed: bytes) -> bytes:
        east.handle(sealed)
        assert east.last_query is not None
        reply = SiteReply(
            request_id=east.last_query.request_id,
            site_id="east",
            status="answered",
            embedder_version=VERSION,
            egress="passages",
        )
        return east.seal(reply.to_bytes(), keys=impostor)

    router.set_clients([north.client(), south.client(), InProcessSiteClient("east", forged)])
    result = _ask(router)
    outcomes = {site.site_id: site for site in result.sites}
    assert outcomes["north"].status == "answered"
    assert outcomes["south"].status == "failed" and "disk on fire" in (outcomes["south"].error or "")
    assert outcomes["east"].status == "failed"
    assert "ForgedEnvelopeError" in (outcomes["east"].error or "")
    assert outcomes["east"].bytes_received > 0


def test_a_reply_to_another_request_is_rejected(make_router: MakeRouter, three_sites: list[FakeSite]) -> None:
    north = three_sites[0]

    def stale(sealed: bytes) -> bytes:
        north.handle(sealed)
        reply = SiteReply(request_id="old", site_id="north", status="answered", embedder_version=VERSION, egress="x")
        return north.seal(reply.to_bytes())

    router = make_router([north])
    router.set_clients([InProcessSiteClient("north", stale)])
    result = _ask(router)
    assert result.sites[0].status == "failed" and "request 'old'" in (result.sites[0].error or "")


def test_a_site_reporting_failure_is_failed_but_keeps_its_breaker_closed(
    make_router: MakeRouter, gateway_keys: KeyPair
) -> None:
    site = FakeSite("north", gateway_keys)

    def refuse(sealed: bytes) -> bytes:
        site.handle(sealed)
        assert site.last_query is not None
        reply = SiteReply(
            request_id=site.last_query.request_id,
            site_id="north",
            status="failed",
            error="embedder version mismatch",
            embedder_version="other",
            egress="answer",
        )
        return site.seal(reply.to_bytes())

    router = make_router([site], failure_threshold=1)
    router.set_clients([InProcessSiteClient("north", refuse)])
    for _ in range(2):
        result = _ask(router)
        assert result.sites[0].status == "failed" and result.sites[0].error == "embedder version mismatch"
    assert router.breakers.for_site("north").state == "closed"


def test_breaker_skips_a_failing_site_then_probes_it(make_router: MakeRouter, three_sites: list[FakeSite]) -> None:
    south = three_sites[1]
    south.fail = SiteUnavailableError("down")
    router = make_router(three_sites, failure_threshold=2, cooldown_s=0.3)
    _ask(router)
    _ask(router)
    calls = south.calls
    result = _ask(router)
    south_outcome = next(site for site in result.sites if site.site_id == "south")
    assert south_outcome.status == "skipped" and "circuit open" in (south_outcome.error or "")
    assert south.calls == calls, "an open breaker must not call the site"
    time.sleep(0.35)
    south.fail = None
    result = _ask(router)
    assert _status(result)["south"] == "answered" and south.calls == calls + 1
    assert router.breakers.for_site("south").state == "closed"


def test_sketch_selection_asks_only_the_closest_sites(make_router: MakeRouter, three_sites: list[FakeSite]) -> None:
    router = make_router(three_sites, selection="sketch", max_sites=1)
    sketch_vectors = {"north": 0, "south": 3, "east": 5}  # north's chunks lie along the query's axis
    handlers = {
        site.site_id: (
            lambda s=site: s.seal(
                build_sketch(
                    s.site_id, VERSION, np.tile(unit_vector(axis=sketch_vectors[s.site_id]), (10, 1))
                ).to_bytes()
            )
        )
        for site in three_sites
    }
    router.set_clients([InProcessSiteClient(s.site_id, s.handle, sketch=handlers[s.site_id]) for s in three_sites])
    errors = asyncio.run(router.refresh_sketches())
    assert errors == {"north": None, "south": None, "east": None}
    result = _ask(router)
    assert _status(result) == {"north": "answered", "south": "skipped", "east": "skipped"}
    skipped = next(site for site in result.sites if site.site_id == "south")
    assert skipped.sketch_score == pytest.approx(0.0, abs=1e-6) and "sketch score" in (skipped.error or "")
    assert three_sites[1].calls == 0


def test_unknown_sites_and_unregistered_keys(make_router: MakeRouter, three_sites: list[FakeSite]) -> None:
    router = make_router(three_sites[:1])
    with pytest.raises(InputError, match="unknown site ids"):
        _ask(router, site_ids=["nowhere"])
    router.set_clients([three_sites[0].client(), three_sites[1].client()])  # south has no registered key
    result = _ask(router)
    assert _status(result)["south"] == "failed"
    assert "no registered public key" in (result.sites[1].error or "")


def test_a_slow_but_live_site_never_opens_its_breaker(make_router: MakeRouter, three_sites: list[FakeSite]) -> None:
    south = three_sites[1]
    south.delay_s = 0.5
    router = make_router(three_sites, deadline_s=0.2, failure_threshold=1)
    for _ in range(4):
        result = _ask(router)
        assert _status(result)["south"] == "timed_out"
    assert south.calls == 4, "a slow site is still asked on every query"
    assert router.breakers.for_site("south").state == "closed"
    south.delay_s = 0.0
    assert _status(_ask(router))["south"] == "answered"


def test_a_refreshed_sketch_changes_the_choice_at_the_next_question(
    make_router: MakeRouter, three_sites: list[FakeSite]
) -> None:
    """The router keeps the sketches stacked between questions; a refresh must replace what it kept."""
    router = make_router(three_sites, selection="sketch", max_sites=1)
    axes = {"north": 0, "south": 3, "east": 5}

    def sketch_of(site: FakeSite) -> bytes:
        return site.seal(
            build_sketch(site.site_id, VERSION, np.tile(unit_vector(axis=axes[site.site_id]), (10, 1))).to_bytes()
        )

    router.set_clients(
        [InProcessSiteClient(s.site_id, s.handle, sketch=lambda s=s: sketch_of(s)) for s in three_sites]  # type: ignore[misc]
    )
    asyncio.run(router.refresh_sketches())
    assert _status(_ask(router))["north"] == "answered"
    axes.update(north=5, east=0)  # east now holds the chunks along the query's axis
    assert _status(_ask(router))["north"] == "answered"  # nothing refreshed yet
    asyncio.run(router.refresh_sketches())
    assert _status(_ask(router)) == {"north": "skipped", "south": "skipped", "east": "answered"}
