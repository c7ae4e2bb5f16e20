"""The router during a rollout: each site gets the question embedded with the version it serves, a site
that switched is asked again once, and rankings of different versions are fused by rank, not score."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from rag_fed.crypto import EnvelopeOpener, KeyPair
from rag_fed.errors import NotFoundError
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.router import FederatedResult, InProcessSiteClient, Router, RoutingPolicy, merge_passages
from rag_fed.site.sketch import build_sketch
from tests.rag_fed.router.fakes import GATEWAY, FakeSite, passage, unit_vector

pytestmark = pytest.mark.unit

V1, V2 = "minilm@aaaa", "fed-run-1-r3@bbbb"
VECTORS = {V1: unit_vector(axis=0), V2: unit_vector(axis=1)}


@dataclass
class VersionedSite(FakeSite):
    """A site serving one version: it refuses a query of another, naming the version it serves."""

    serves: str = V1
    seen: list[SiteQuery] = field(default_factory=list)
    answer_with: str | None = None  # a broken site would answer with this version whatever it was asked

    def handle(self, sealed: bytes) -> bytes:
        opener = EnvelopeOpener(self.keys, self.site_id, {GATEWAY: self.gateway_keys.public_key})
        query = SiteQuery.from_bytes(opener.open_bytes(sealed))
        self.seen.append(query)
        if query.embedder_version != self.serves and self.answer_with is None:
            reply = SiteReply(
                request_id=query.request_id,
                site_id=self.site_id,
                status="failed",
                error=f"embedder version mismatch: this site serves {self.serves}",
                embedder_version=self.serves,
                egress="passages",
            )
        else:
            reply = SiteReply(
                request_id=query.request_id,
                site_id=self.site_id,
                status="answered",
                passages=self.passages[: query.k],
                embedder_version=self.answer_with or self.serves,
                egress="passages",
            )
        return self.seal(reply.to_bytes())


class Encoder:
    """The gateway's embedders by version; counts what it was asked to embed."""

    def __init__(self, known: dict[str, np.ndarray]) -> None:
        self.known = known
        self.calls: list[str] = []

    def __call__(self, version: str) -> np.ndarray:
        self.calls.append(version)
        if version not in self.known:
            raise NotFoundError(f"no embedder version {version!r} in the model registry")
        return self.known[version]


@pytest.fixture
def sites(gateway_keys: KeyPair) -> list[VersionedSite]:
    return [
        VersionedSite("north", gateway_keys, [passage("north", 1, 0.9, 1), passage("north", 2, 0.5, 2)], serves=V1),
        VersionedSite("south", gateway_keys, [passage("south", 7, 0.8, 1), passage("south", 8, 0.1, 2)], serves=V2),
    ]


def _router(gateway_keys: KeyPair, sites: list[VersionedSite], **policy: object) -> Router:
    return Router(
        keys=gateway_keys,
        gateway_id=GATEWAY,
        site_keys={site.site_id: site.keys.public_key for site in sites},
        clients=[site.client() for site in sites],
        policy=RoutingPolicy.model_validate(policy),
    )


def _ask(router: Router, encode: Callable[[str], np.ndarray] | None, version: str = V1) -> FederatedResult:
    query = router.query("pump seal leaks?", VECTORS[version], version, k=3, mode="dense", encode=encode)
    return asyncio.run(query)


def _by_site(result: FederatedResult) -> dict[str, tuple[str, str | None]]:
    return {site.site_id: (site.status, site.embedder_version) for site in result.sites}


def test_mixed_versions_each_site_gets_its_own_embedding_and_passages_are_fused_by_rank(
    gateway_keys: KeyPair, sites: list[VersionedSite]
) -> None:
    router = _router(gateway_keys, sites)
    router.note_site_version("south", V2)
    encoder = Encoder(VECTORS)
    result = _ask(router, encoder)
    assert _by_site(result) == {"north": ("answered", V1), "south": ("answered", V2)}
    assert encoder.calls == [V2], "the given version is not embedded again, the other exactly once"
    north, south = sites
    assert [q.embedder_version for q in north.seen] == [V1] and np.array_equal(north.seen[0].embedding, VECTORS[V1])
    assert [q.embedder_version for q in south.seen] == [V2] and np.array_equal(south.seen[0].embedding, VECTORS[V2])
    # Reciprocal rank: each site's first passage before either's second, scores 1/(60 + rank).
    assert {(p.citation.site_id, p.chunk_id) for p in result.passages[:2]} == {("north", 1), ("south", 7)}
    assert result.passages[0].score == pytest.approx(1 / 61) and result.passages[2].score == pytest.approx(1 / 62)


def test_a_site_that_switched_is_asked_again_once_with_its_new_version(
    gateway_keys: KeyPair, sites: list[VersionedSite]
) -> None:
    router = _router(gateway_keys, sites)  # the router believes both serve V1
    encoder = Encoder(VECTORS)
    result = _ask(router, encoder)
    assert _by_site(result) == {"north": ("answered", V1), "south": ("answered", V2)}
    south = sites[1]
    assert [q.embedder_version for q in south.seen] == [V1, V2]
    assert south.seen[0].request_id == south.seen[1].request_id
    assert next(s for s in result.sites if s.site_id == "south").bytes_sent > 2 * 100
    assert router.site_versions == {"north": V1, "south": V2}
    _ask(router, encoder)
    assert [q.embedder_version for q in south.seen] == [V1, V2, V2], "the new version is used at once"


def test_sites_all_on_the_new_version_merge_by_score_as_one_index(
    gateway_keys: KeyPair, sites: list[VersionedSite]
) -> None:
    sites[0].serves = V2
    router = _router(gateway_keys, sites)
    router.note_site_version("north", V2)
    router.note_site_version("south", V2)
    encoder = Encoder(VECTORS)
    result = _ask(router, encoder)
    assert _by_site(result) == {"north": ("answered", V2), "south": ("answered", V2)}
    assert encoder.calls == [V2]
    assert [(p.citation.site_id, p.chunk_id, p.score) for p in result.passages] == [
        ("north", 1, 0.9),
        ("south", 7, 0.8),
        ("north", 2, 0.5),
    ]


def test_a_version_the_gateway_cannot_embed_fails_only_that_site(
    gateway_keys: KeyPair, sites: list[VersionedSite]
) -> None:
    sites[1].serves = "unknown-model@cccc"
    router = _router(gateway_keys, sites, failure_threshold=1)
    result = _ask(router, Encoder(VECTORS))
    assert _by_site(result) == {"north": ("answered", V1), "south": ("failed", "unknown-model@cccc")}
    south = next(s for s in result.sites if s.site_id == "south")
    assert south.error is not None and "mismatch" in south.error
    assert [p.citation.site_id for p in result.passages] == ["north", "north"]
    assert router.breakers.for_site("south").state == "closed", "the site is healthy; the gateway lacks the model"


def test_an_answer_from_an_index_of_another_version_is_rejected(
    gateway_keys: KeyPair, sites: list[VersionedSite]
) -> None:
    sites[1].answer_with = V2  # answers V1 queries from its V2 index: a broken site
    router = _router(gateway_keys, sites)
    result = _ask(router, None)
    south = next(s for s in result.sites if s.site_id == "south")
    assert south.status == "failed" and south.error is not None and "from an index of" in south.error
    assert {p.citation.site_id for p in result.passages} == {"north"}


def test_sketches_are_scored_with_the_embedding_of_their_own_version(
    gateway_keys: KeyPair, sites: list[VersionedSite]
) -> None:
    sketches = {
        "north": build_sketch("north", V1, np.tile(VECTORS[V1], (5, 1))),
        "south": build_sketch("south", V2, np.tile(VECTORS[V2], (5, 1))),
    }
    router = _router(gateway_keys, sites, selection="sketch", min_score=0.9)

    def sketch_of(site: VersionedSite) -> Callable[[], bytes]:
        return lambda: site.seal(sketches[site.site_id].to_bytes())

    router.set_clients([InProcessSiteClient(site.site_id, site.handle, sketch_of(site)) for site in sites])
    assert asyncio.run(router.refresh_sketches()) == {"north": None, "south": None}
    result = _ask(router, Encoder(VECTORS))
    # Scored with V1's embedding, south's V2 centroid would look unrelated (cosine 0) and be skipped.
    assert {site.site_id: site.sketch_score for site in result.sites} == {
        "north": pytest.approx(1.0),
        "south": pytest.approx(1.0),
    }
    assert _by_site(result) == {"north": ("answered", V1), "south": ("answered", V2)}


def test_merge_of_one_version_is_by_score_and_of_two_by_rank() -> None:
    rankings = {"a": [passage("a", 1, 0.3, 1)], "b": [passage("b", 2, 0.9, 1), passage("b", 3, 0.8, 2)]}
    same = merge_passages(rankings, 3, "dense", {"a": V1, "b": V1})
    assert [p.chunk_id for p in same] == [2, 3, 1]
    mixed = merge_passages(rankings, 3, "dense", {"a": V1, "b": V2})
    assert [p.chunk_id for p in mixed] == [1, 2, 3] and mixed[0].score == pytest.approx(1 / 61)
