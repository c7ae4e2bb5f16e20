"""Federated keyword and hybrid search with the federation's term statistics equals one central index
over the same chunks: real sites (SQLite, FTS5, FAISS) of uneven sizes and different topics, their real
responders, the real router, sealed envelopes; through deletes and re-ingests. A site that publishes no
statistics still answers, and says so; statistics of an older version of a site's index are detected."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from connectors import Document, Section
from rag_fed.config import Settings
from rag_fed.crypto import KeyPair
from rag_fed.router import FederatedResult, InProcessSiteClient, Router
from rag_fed.site import Site
from rag_fed.site.responder import ResponderSettings, SiteResponder
from rag_fed.term_stats import PublicationPolicy
from rag_fed.types import Passage, SearchMode
from tests.rag_fed.site.fake_embedders import HashEmbedder

pytestmark = pytest.mark.integration

GATEWAY = "gateway"
K = 8
SIZES = {"north": 6, "south": 30, "east": 80}  # documents: uneven on purpose
COMMON = ["pump", "seal", "bearing", "valve", "motor", "belt", "leak", "noise", "pressure", "filter"]
TOPICS = {
    "north": ["conveyor", "pulley", "idler", "belt", "splice", "tension"],
    "south": ["compressor", "piston", "intercooler", "unloader", "valve"],
    "east": ["hydraulic", "cylinder", "hose", "excavator", "boom", "pump"],
}
QUESTIONS = [
    "belt tension on the conveyor pulley",
    "pump seal leak",
    "hydraulic hose leak on the boom",
    "compressor unloader valve noise",
    "bearing noise F-217",
    "filter pressure MS-4471 excavator",
    "belt-tension on the idler",  # a phrase of common words: its count comes from the sites per question
    "pump-seal leak noise",
]
EMBEDDER = HashEmbedder("hash@1")


def _text(rng: np.random.Generator, site: str) -> str:
    words = [str(w) for w in rng.choice(COMMON + 3 * TOPICS[site], size=int(rng.integers(4, 25)))]
    if rng.random() < 0.2:
        words.insert(0, str(rng.choice(["F-217", "MS-4471"])))
    return " ".join(words)


def _documents(site: str, count: int, rng: np.random.Generator, tag: str = "") -> list[tuple[str, Document]]:
    return [
        (
            f"{site}/doc-{n}",
            Document(
                source=f"{site}.md",
                title=f"{site} manual {n % 3}{tag}",
                kind="manual",
                sections=tuple(Section(text=_text(rng, site)) for _ in range(int(rng.integers(1, 3)))),
            ),
        )
        for n in range(count)
    ]


class Federation:
    """Three sites, a central site holding every document, and a router over the three."""

    def __init__(self, root: Path) -> None:
        self.gateway_keys = KeyPair.generate()
        self.sites: dict[str, Site] = {}
        self.responders: dict[str, SiteResponder[ResponderSettings]] = {}
        rng = np.random.default_rng(7)
        self.central = self._open(root, "central")
        for site_id, count in SIZES.items():
            site = self.sites[site_id] = self._open(root, site_id)
            docs = _documents(site_id, count, rng)
            site.ingest_documents(f"{site_id}.md", docs)
            self.central.ingest_documents(f"{site_id}.md", docs)
        for site in [*self.sites.values(), self.central]:
            assert site.start_keyword_index(wait=None)
        self.router = self.make_router({})

    def make_router(self, policies: dict[str, PublicationPolicy]) -> Router:
        clients = []
        for site_id, site in self.sites.items():
            settings = ResponderSettings(gateway_id=GATEWAY, term_stats=policies.get(site_id, PublicationPolicy()))
            responder = SiteResponder(site, settings, KeyPair.load(site.layout.keys_dir), self.gateway_keys.public_key)
            self.responders[site_id] = responder
            handlers = (responder.handle, responder.sketch, responder.handle_term_stats)
            clients.append(InProcessSiteClient(site_id, *handlers))
        keys = {site_id: KeyPair.load(site.layout.keys_dir).public_key for site_id, site in self.sites.items()}
        return Router(keys=self.gateway_keys, gateway_id=GATEWAY, site_keys=keys, clients=clients)

    def _open(self, root: Path, site_id: str) -> Site:
        settings = Settings(data_dir=root)
        Site.init(site_id, settings)
        return Site.open(site_id, settings, embedder=EMBEDDER)

    def ask(self, question: str, mode: SearchMode, router: Router | None = None) -> FederatedResult:
        vector = EMBEDDER.embed([question])[0]
        router = router or self.router
        return asyncio.run(router.query(question, vector, EMBEDDER.model_version, k=K, mode=mode, want_answer=False))

    def refresh(self, router: Router | None = None) -> dict[str, str | None]:
        return asyncio.run((router or self.router).refresh_term_stats())

    def reingest(self, site_id: str, doc_ids: list[str], rng: np.random.Generator) -> None:
        """Replace these documents with new text at the site and at the central index."""
        for doc_id in doc_ids:
            fresh = [(doc_id, doc) for _, doc in _documents(site_id, 1, rng, tag=" rev")]
            for site in (self.sites[site_id], self.central):
                site.delete_document(doc_id)
                site.ingest_documents(f"{doc_id}.rev.md", fresh)  # a source of its own: the rest stays

    def close(self) -> None:
        for site in [*self.sites.values(), self.central]:
            site.close()


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    federation = Federation(tmp_path)
    yield federation
    federation.close()


def _key(passage: Passage) -> tuple[str, str]:
    return passage.citation.doc_id, passage.text


def assert_equal_to_central(federation: Federation, mode: SearchMode) -> None:
    for question in QUESTIONS:
        result = federation.ask(question, mode)
        assert result.term_stats == "global", (question, result.sites)
        assert {site.term_stats for site in result.sites} == {"global"}
        central = federation.central.search(question, K, mode, query_vector=EMBEDDER.embed([question])[0])
        federated = [(p.score, _key(p)) for p in result.passages]
        centralised = [(p.score, _key(p)) for p in central]
        assert [s for s, _ in federated] == pytest.approx([s for s, _ in centralised], rel=1e-6, abs=1e-9), question
        last = centralised[-1][0]  # the same chunks, but for the members of a tie at the cut
        assert {key for s, key in federated if s > last + 1e-6} == {key for s, key in centralised if s > last + 1e-6}


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_federated_search_equals_one_central_index_through_deletes_and_reingests(
    federation: Federation, mode: SearchMode
) -> None:
    assert federation.refresh() == dict.fromkeys(SIZES)
    assert_equal_to_central(federation, mode)
    rng = np.random.default_rng(3)
    federation.sites["east"].delete_document("east/doc-4")
    federation.central.delete_document("east/doc-4")
    federation.reingest("south", ["south/doc-1", "south/doc-2"], rng)
    federation.reingest("north", ["north/doc-0"], rng)
    assert federation.refresh() == dict.fromkeys(SIZES)
    assert_equal_to_central(federation, mode)


def test_without_the_statistics_the_scores_differ_from_the_central_ones(federation: Federation) -> None:
    """What the test above guards: with its own counts every site scores differently from the centre."""
    router = federation.make_router({})
    router.term_stats = None  # a gateway of the version before term statistics
    differing = 0
    for question in QUESTIONS:
        result = federation.ask(question, "keyword", router)
        assert result.term_stats == "own" and {s.term_stats for s in result.sites} == {"own"}
        central = federation.central.search(question, K, "keyword")
        differing += [p.score for p in result.passages] != pytest.approx([p.score for p in central], rel=1e-6)
    assert differing >= len(QUESTIONS) - 1


def test_a_site_that_publishes_nothing_still_answers_and_says_so(federation: Federation) -> None:
    router = federation.make_router({"north": PublicationPolicy(publish=False)})
    errors = federation.refresh(router)
    assert errors["north"] is not None and "does not publish" in errors["north"]
    assert errors["south"] is None and errors["east"] is None
    result = federation.ask("belt tension on the conveyor pulley", "keyword", router)
    by_site = {site.site_id: site for site in result.sites}
    assert {site.status for site in result.sites} == {"answered"}
    assert by_site["north"].term_stats == "own" and by_site["south"].term_stats == "global"
    assert result.term_stats == "mixed"
    assert by_site["north"].passages > 0  # its passages were merged, on its own scale


def test_statistics_of_an_older_index_version_are_detected_and_refreshed(federation: Federation) -> None:
    federation.refresh()
    question = "hydraulic hose leak on the boom"
    federation.reingest("east", ["east/doc-7"], np.random.default_rng(9))  # the gateway's counts are now stale

    async def ask_twice() -> tuple[FederatedResult, FederatedResult]:
        vector = EMBEDDER.embed([question])[0]
        first = await federation.router.query(question, vector, "hash@1", k=K, mode="keyword", want_answer=False)
        await asyncio.sleep(0.5)  # the router refreshes the stale site in the background
        second = await federation.router.query(question, vector, "hash@1", k=K, mode="keyword", want_answer=False)
        return first, second

    first, second = asyncio.run(ask_twice())
    stale = {site.site_id: site.term_stats for site in first.sites}
    assert stale == {"north": "global", "south": "global", "east": "stale"} and first.term_stats == "mixed"
    assert {site.term_stats for site in second.sites} == {"global"}
    central = federation.central.search(question, K, "keyword")
    assert [p.score for p in second.passages] == pytest.approx([p.score for p in central], rel=1e-6)


def test_dense_queries_carry_no_statistics(federation: Federation) -> None:
    federation.refresh()
    result = federation.ask("pump seal leak", "dense")
    assert result.term_stats is None and {site.term_stats for site in result.sites} == {None}


def test_a_rollout_and_a_rollback_change_the_version_but_not_the_counts(federation: Federation) -> None:
    """After a re-embed the site serves another store: its counts are the same chunks' (same terms), but
    the version names the new store, so the gateway's counts of the old one are detected as stale."""
    site = federation.sites["north"]
    version, counts = site.term_counts()
    assert site.start_reembed(HashEmbedder("hash@2"), model="fake-2").wait(30).state == "done"
    switched, after = site.term_counts()
    assert switched != version and switched.split("@")[0] != version.split("@")[0]
    assert (after.chunks, after.column_tokens, dict(after.frequencies)) == (
        counts.chunks,
        counts.column_tokens,
        dict(counts.frequencies),
    )
    assert site.rollback(EMBEDDER).wait(30).state == "done"
    assert site.term_stats_version.split("@")[0] == version.split("@")[0]


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_a_site_that_cannot_apply_the_statistics_says_unusable_and_fts5_still_answers(
    federation: Federation, mode: SearchMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site gets the federation's statistics but its in-memory keyword index is not built (FTS5 ranks,
    and FTS5 can only score with its own counts): it answers from FTS5, says ``unusable``, and the
    federation's result says ``mixed`` and still holds its passages, on its own scale."""
    from indexes._keyword_mirror import KeywordMirror

    searched = KeywordMirror.search

    def not_built_at_north(mirror: KeywordMirror, *args: object, **kwargs: object) -> object:
        if mirror._path.is_relative_to(federation.sites["north"].layout.root):
            return None  # what the mirror answers until its index is built
        return searched(mirror, *args, **kwargs)  # type: ignore[arg-type]

    assert federation.refresh() == dict.fromkeys(SIZES)
    monkeypatch.setattr(KeywordMirror, "search", not_built_at_north)
    question = "belt tension on the conveyor pulley"  # north's topic: its chunks rank
    vector = EMBEDDER.embed([question])[0]
    # k = 100: north (the smallest site) gets into the merged list, which then holds its scores
    result = asyncio.run(federation.router.query(question, vector, "hash@1", k=100, mode=mode, want_answer=False))
    by_site = {site.site_id: site for site in result.sites}
    assert {site.status for site in result.sites} == {"answered"}
    assert by_site["north"].term_stats == "unusable"
    assert by_site["south"].term_stats == by_site["east"].term_stats == "global"
    assert result.term_stats == "mixed"
    assert by_site["north"].passages > 0
    north = [p for p in result.passages if p.citation.site_id == "north"]
    assert north, [p.citation.site_id for p in result.passages]
    # North's keyword scores are FTS5's with north's own counts, the others' the central index's own
    central = {p.text: p.keyword_score for p in federation.central.search(question, 100, "keyword")}
    assert all(p.keyword_score != pytest.approx(central[p.text], rel=1e-3) for p in north)
    others = [p for p in result.passages if p.citation.site_id != "north" and p.keyword_score is not None]
    assert others and all(p.keyword_score == pytest.approx(central[p.text], rel=1e-6) for p in others)
