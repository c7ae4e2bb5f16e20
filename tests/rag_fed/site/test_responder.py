"""The site side of a query without HTTP (rag_fed/site/responder.py): sealed query in, sealed reply out,
evidence cut at the site, a local model only when asked to phrase (or under 'answer' egress)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rag_fed.config import AnswerSettings, Settings
from rag_fed.crypto import EnvelopeOpener, KeyPair, seal
from rag_fed.embedders.base import Embedder
from rag_fed.errors import ModelError, SiteBusyError
from rag_fed.generators.base import ChatMessage
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.site import Site
from rag_fed.site.egress import EgressPolicy
from rag_fed.site.responder import ResponderSettings, SiteResponder
from tests.rag_fed.answers.fakes import ScriptedGenerator

pytestmark = pytest.mark.integration

PUMP_MANUAL = """# Slurry pump SP-40 manual

## Mechanical seal replacement
Isolate the pump and lock out breaker MCC-7 before work. Replace the mechanical seal kit MS-4471
when leakage exceeds 20 drops per minute. Torque the gland bolts to 35 Nm in a cross pattern.

## Bearing lubrication
Grease the drive-end bearing 6310-C3 every 500 running hours with lithium complex grease, 12 g per shot.
"""
QUESTION = "What torque do the gland bolts of the slurry pump need?"
LEAD = "The gland bolts are torqued to 35 Nm in a cross pattern [1]. "
GATEWAY_KEYS = KeyPair.generate()


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Path:
    root = tmp_path_factory.mktemp("responder")
    (root / "docs").mkdir()
    (root / "docs" / "pump.md").write_text(PUMP_MANUAL)
    settings = Settings(data_dir=root / "data")
    Site.init("north", settings)
    with Site.open("north", settings, embedder=packaged_embedder) as site:
        assert not site.ingest([root / "docs"]).failed
    return root


@pytest.fixture()
def open_site(site_dir: Path, packaged_embedder: Embedder) -> Iterator[tuple[Site, ScriptedGenerator]]:
    generator = ScriptedGenerator([LEAD])
    site = Site.open("north", Settings(data_dir=site_dir / "data"), embedder=packaged_embedder, generator=generator)
    yield site, generator
    site.close()


def _ask(
    site: Site, embedder: Embedder, egress: EgressPolicy = "snippets", **fields: object
) -> tuple[SiteReply, SiteQuery]:
    keys = KeyPair.load(site.layout.keys_dir)
    responder = SiteResponder(
        site, ResponderSettings(egress=egress, embedding_threads=0), keys, GATEWAY_KEYS.public_key
    )
    query = SiteQuery(
        question=QUESTION,
        embedding=embedder.embed([QUESTION])[0],
        k=3,
        embedder_version=site.serving_version,
        **fields,  # type: ignore[arg-type]
    )
    sealed = seal(
        query.to_bytes(), sender=GATEWAY_KEYS, sender_id="gateway", recipient_id="north", recipient_key=keys.public_key
    )
    opener = EnvelopeOpener(GATEWAY_KEYS, "gateway", {"north": keys.public_key})
    return SiteReply.from_bytes(opener.open_bytes(responder.handle(sealed.to_bytes()))), query


def test_retrieval_only_cuts_no_evidence(
    open_site: tuple[Site, ScriptedGenerator], packaged_embedder: Embedder
) -> None:
    site, generator = open_site
    reply, _ = _ask(site, packaged_embedder, want_answer=False)
    assert reply.status == "answered" and reply.passages
    assert reply.evidence == [] and reply.answer is None
    assert "evidence" not in reply.timings_ms and generator.calls == []


def test_evidence_is_cut_at_the_site_and_no_model_runs(
    open_site: tuple[Site, ScriptedGenerator], packaged_embedder: Embedder
) -> None:
    site, generator = open_site
    reply, _ = _ask(site, packaged_embedder, want_answer=True)
    assert reply.evidence and all(item.citation.site_id == "north" for item in reply.evidence)
    best = reply.evidence[0]
    assert "35 Nm" in best.text and best.citation.doc_id == "pump.md"
    assert best.score == max(item.score for item in reply.evidence)
    assert reply.answer is None and generator.calls == [], "without phrase the site's model does not run"
    assert {"search", "evidence"} <= set(reply.timings_ms) and "answer" not in reply.timings_ms


def test_asked_to_phrase_the_site_model_writes_a_checked_lead(
    open_site: tuple[Site, ScriptedGenerator], packaged_embedder: Embedder
) -> None:
    site, generator = open_site
    reply, _ = _ask(site, packaged_embedder, want_answer=True, phrase=True)
    assert len(generator.calls) == 1
    assert reply.answer is not None and reply.answer.startswith("The gland bolts are torqued to 35 Nm")
    assert "[north:pump.md#" in reply.answer
    assert reply.evidence and "answer" in reply.timings_ms


def test_answer_egress_sends_the_phrased_lead_and_evidence_without_text(
    open_site: tuple[Site, ScriptedGenerator], packaged_embedder: Embedder
) -> None:
    site, generator = open_site
    reply, _ = _ask(site, packaged_embedder, "answer", want_answer=True)
    assert len(generator.calls) == 1, "under 'answer' egress the site always phrases"
    assert reply.answer is not None and "35 Nm" in reply.answer
    assert reply.evidence and all(item.text == "" for item in reply.evidence)
    assert all(item.score > 0 for item in reply.evidence), "scores and citations still leave"
    assert all(passage.text == "" for passage in reply.passages)


def test_a_failing_site_model_still_sends_the_evidence(
    open_site: tuple[Site, ScriptedGenerator], packaged_embedder: Embedder
) -> None:
    site, generator = open_site
    generator.tokens, generator.error = [], ModelError("model file missing")
    reply, _ = _ask(site, packaged_embedder, want_answer=True, phrase=True)
    assert reply.status == "answered" and reply.answer is None
    assert reply.evidence and "35 Nm" in reply.evidence[0].text


def test_a_keyword_query_for_a_redacted_value_does_not_find_its_document(
    tmp_path: Path, packaged_embedder: Embedder
) -> None:
    """It came back with its document and a score: a confirmation that the value is there."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "plate.md").write_text(
        "# Motor M-9\n\n## Plate\nMotor S/N 4471-AX was rewound by Anna Berg.\n"
    )
    (tmp_path / "docs" / "pump.md").write_text(PUMP_MANUAL)
    settings = Settings(data_dir=tmp_path / "data")
    Site.init("north", settings)
    with Site.open("north", settings, embedder=packaged_embedder) as site:
        assert not site.ingest([tmp_path / "docs"]).failed
        keys = KeyPair.load(site.layout.keys_dir)
        responder_settings = ResponderSettings.model_validate(
            {"egress": "passages", "redaction": {"names": ["Anna Berg"]}}
        )
        responder = SiteResponder(site, responder_settings, keys, GATEWAY_KEYS.public_key)
        opener = EnvelopeOpener(GATEWAY_KEYS, "gateway", {"north": keys.public_key})
        for question in ("S/N 4471-AX", "Anna Berg", "serial number is 4471-AX"):
            query = SiteQuery(
                question=question,
                embedding=packaged_embedder.embed([question])[0],
                k=3,
                embedder_version=site.serving_version,
                mode="keyword",
                want_answer=False,
            )
            sealed = seal(
                query.to_bytes(),
                sender=GATEWAY_KEYS,
                sender_id="gateway",
                recipient_id="north",
                recipient_key=keys.public_key,
            )
            reply = SiteReply.from_bytes(opener.open_bytes(responder.handle(sealed.to_bytes())))
            assert reply.status == "answered", reply.error
            assert all(p.citation.doc_id != "plate.md" for p in reply.passages), (question, reply.passages)
        assert [p.citation.doc_id for p in site.search("rewound motor plate", k=1, mode="keyword")] == ["plate.md"]


class _SlowGenerator(ScriptedGenerator):
    """Each generation takes ``seconds``: a site's model busy with one engineer's burst of questions."""

    def __init__(self, seconds: float) -> None:
        super().__init__([LEAD])
        self.seconds = seconds

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        time.sleep(self.seconds)
        yield from super().stream(messages, max_tokens, temperature)


def test_model_work_beyond_the_queue_is_refused_busy_with_a_retry_time(
    site_dir: Path, packaged_embedder: Embedder
) -> None:
    """Unbounded, every worker thread of the site waited on its one model and the site stopped answering."""
    settings = Settings(data_dir=site_dir / "data")
    with Site.open("north", settings, embedder=packaged_embedder, generator=_SlowGenerator(0.6)) as site:
        keys = KeyPair.load(site.layout.keys_dir)
        responder = SiteResponder(
            site, ResponderSettings(egress="answer", model_queue=2), keys, GATEWAY_KEYS.public_key
        )
        vector = packaged_embedder.embed([QUESTION])[0]

        def ask(_: int) -> str:
            query = SiteQuery(question=QUESTION, embedding=vector, k=2, embedder_version=site.serving_version)
            sealed = seal(
                query.to_bytes(),
                sender=GATEWAY_KEYS,
                sender_id="gateway",
                recipient_id="north",
                recipient_key=keys.public_key,
            )
            try:
                responder.handle(sealed.to_bytes())
            except SiteBusyError as busy:
                assert busy.retry_after_s >= 1 and "waiting for its model" in str(busy)
                return "busy"
            return "answered"

        with ThreadPoolExecutor(6) as pool:
            outcomes = list(pool.map(ask, range(6)))
        assert outcomes.count("answered") >= 2 and outcomes.count("busy") >= 1, outcomes
        assert ask(0) == "answered", "the queue drains: a later question is admitted"
        # Retrieval-only queries never wait for the model and are never refused.
        plain = SiteQuery(
            question=QUESTION, embedding=vector, k=2, embedder_version=site.serving_version, want_answer=False
        )
        sealed = seal(
            plain.to_bytes(),
            sender=GATEWAY_KEYS,
            sender_id="gateway",
            recipient_id="north",
            recipient_key=keys.public_key,
        )
        assert responder.handle(sealed.to_bytes())


def _sealed(site: Site, query: SiteQuery) -> bytes:
    keys = KeyPair.load(site.layout.keys_dir)
    return seal(
        query.to_bytes(), sender=GATEWAY_KEYS, sender_id="gateway", recipient_id="north", recipient_key=keys.public_key
    ).to_bytes()


def test_model_work_the_gateway_gave_up_on_is_skipped(site_dir: Path, packaged_embedder: Embedder) -> None:
    """Issue 19: a site kept generating for questions the gateway had already abandoned, so every later
    question waited behind dead work. A query carries the gateway's deadline; model work that cannot
    start in time is skipped and the evidence goes back without a lead."""
    generator = _SlowGenerator(1.5)
    settings = Settings(data_dir=site_dir / "data", answers=AnswerSettings(lead_budget_s=5.0))
    with Site.open("north", settings, embedder=packaged_embedder, generator=generator) as site:
        keys = KeyPair.load(site.layout.keys_dir)
        responder = SiteResponder(site, ResponderSettings(egress="snippets"), keys, GATEWAY_KEYS.public_key)
        opener = EnvelopeOpener(GATEWAY_KEYS, "gateway", {"north": keys.public_key})
        vector = packaged_embedder.embed([QUESTION])[0]

        def ask(deadline_s: float | None) -> SiteReply:
            query = SiteQuery(
                question=QUESTION,
                embedding=vector,
                k=2,
                embedder_version=site.serving_version,
                phrase=True,
                deadline_s=deadline_s,
            )
            return SiteReply.from_bytes(opener.open_bytes(responder.handle(_sealed(site, query))))

        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(ask, None)  # holds the model for 1.5 s
            time.sleep(0.3)
            started = time.monotonic()
            late = ask(0.5)
            waited = time.monotonic() - started
            assert first.result().answer is not None, "without a deadline the model runs to its end"
        assert late.answer is None and late.evidence and "35 Nm" in late.evidence[0].text
        assert "answer_skipped" in late.timings_ms and "answer" not in late.timings_ms
        assert waited < 1.0, f"the skipped query waited {waited:.2f} s for a model it could not use"
        assert len(generator.calls) == 1, "the abandoned question never reached the model"
        # A free model and a deadline it can meet: the lead is written as before.
        on_time = ask(30.0)
        assert on_time.answer is not None and "answer" in on_time.timings_ms and len(generator.calls) == 2


def test_a_lead_is_stopped_at_the_gateways_deadline(site_dir: Path, packaged_embedder: Embedder) -> None:
    """The model was free, but its sentence would arrive after the gateway stopped waiting: it is cut at
    the deadline rather than at the (longer) lead budget."""
    settings = Settings(data_dir=site_dir / "data", answers=AnswerSettings(lead_budget_s=10.0))
    with Site.open("north", settings, embedder=packaged_embedder, generator=_SlowGenerator(3.0)) as site:
        keys = KeyPair.load(site.layout.keys_dir)
        responder = SiteResponder(site, ResponderSettings(egress="snippets"), keys, GATEWAY_KEYS.public_key)
        opener = EnvelopeOpener(GATEWAY_KEYS, "gateway", {"north": keys.public_key})
        query = SiteQuery(
            question=QUESTION,
            embedding=packaged_embedder.embed([QUESTION])[0],
            k=2,
            embedder_version=site.serving_version,
            phrase=True,
            deadline_s=0.8,
        )
        started = time.monotonic()
        reply = SiteReply.from_bytes(opener.open_bytes(responder.handle(_sealed(site, query))))
        elapsed = time.monotonic() - started
    assert reply.answer is None and reply.evidence, "a lead past the deadline is not sent"
    assert elapsed < 2.5, f"the site held the reply {elapsed:.2f} s, past the gateway's 0.8 s deadline"
