"""The site's side of the federation, without HTTP: sealed query in, sealed reply out; and the
coordinator's sealed model controls (roll out an embedder version, roll back, status).

Synchronous on purpose (the HTTP layer runs it in a worker thread). A message that cannot be opened or
parsed raises (the HTTP layer answers 4xx, unsealed: the sender is unknown or broken); a message the
site understood but cannot serve gets a sealed reply with status ``failed`` (or ``refused``) and why.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from nacl.public import PublicKey
from pydantic import BaseModel, Field, PositiveInt

from rag_fed.admin_keys import AdminKeyList, AdminKeyListAck, GatewayKeyList
from rag_fed.answers.compose import AnswerComposer
from rag_fed.answers.timed import LeadHealth
from rag_fed.crypto import EnvelopeOpener, KeyPair, ReplayGuard, SealedEnvelope, seal
from rag_fed.crypto.ids import NODE_ID_PATTERN
from rag_fed.embedders import set_embedding_threads
from rag_fed.errors import InputError, NotFoundError, RagFedError, SiteBusyError
from rag_fed.feedback import FeedbackLog
from rag_fed.feedback.receiver import FeedbackReceiver
from rag_fed.observability import request_context, span
from rag_fed.protocol import ControlStatus, ModelControl, ModelControlReply, SiteQuery, SiteReply
from rag_fed.site.egress import EgressPolicy, RedactionSettings, Redactor, apply_egress, release_evidence
from rag_fed.site.model_control import apply_model_control
from rag_fed.site.node import Site
from rag_fed.site.query_checks import require_normalised
from rag_fed.site.sketch import build_sketch
from rag_fed.site.stats_search import hybrid_depth, text_only_for
from rag_fed.site.term_stats import TermStatsPublisher
from rag_fed.term_stats.publication import PublicationPolicy, TermStatsRequest
from rag_fed.types import Evidence
from rag_fed.wire.message import SealedMessage

__all__ = ["REPLAY_JOURNAL", "QueryObserver", "ResponderSettings", "SiteResponder"]

REPLAY_JOURNAL = "replay.db"
"""In the site's folder: the nonces of the envelopes accepted within the freshness window."""

_log = logging.getLogger(__name__)
_audit = logging.getLogger("rag_fed.site.audit")

QueryObserver = Callable[[SiteQuery, SiteReply, float], None]
"""Told of every sealed query answered: the query, the reply (before sealing) and the seconds it took."""


class ResponderSettings(BaseModel):
    """What a site lets out and whom it answers: the site service's settings extend these."""

    gateway_id: str = Field(default="gateway", pattern=NODE_ID_PATTERN)
    egress: EgressPolicy = "snippets"
    redaction: RedactionSettings = RedactionSettings()
    envelope_max_age_s: float = Field(default=60.0, gt=0)
    sketch_centroids: PositiveInt = 16
    embedding_threads: int = Field(
        default=1, ge=0, description="CPU threads of the site's embedder in the service (0: torch's default)."
    )
    accept_model_rollouts: bool = Field(
        default=True,
        description="Whether the coordinator may make this site re-embed for a new embedder version (or roll back).",
    )
    admin_keys_max_age_s: float = Field(
        default=30.0,
        gt=0,
        description="Gateway-issued admin keys are refused once the gateway's last key list is this old "
        "(seconds); the gateway sends one every admin_keys_push_s (docs/security.md).",
    )
    model_queue: PositiveInt = Field(
        default=4,
        description="Queries that may wait for or run the site's local model at once; one more is refused "
        "with HTTP 429 and Retry-After rather than queued without bound (its breaker stays closed).",
    )
    term_stats: PublicationPolicy = Field(
        default=PublicationPolicy(),
        description="What the site publishes of its term counts for the federation's BM25 (floor, noise; "
        "docs/term-statistics.md).",
    )


SettingsT = TypeVar("SettingsT", bound=ResponderSettings)
MessageT = TypeVar("MessageT", bound=SealedMessage)


class SiteResponder(Generic[SettingsT]):
    """Opens, answers and seals. One per site process; thread-safe. ``settings`` is kept as given, so a
    service that extends ``ResponderSettings`` finds its own fields there."""

    def __init__(self, site: Site, settings: SettingsT, keys: KeyPair, gateway_key: PublicKey) -> None:
        self.site = site
        self.settings: SettingsT = settings
        set_embedding_threads(settings.embedding_threads)
        self._keys = keys
        self._gateway_key = gateway_key
        window = settings.envelope_max_age_s + 5.0
        self._opener = EnvelopeOpener(
            keys,
            site.site_id,
            {settings.gateway_id: gateway_key},
            max_age_s=settings.envelope_max_age_s,
            # On disk, so an envelope answered before a restart is refused after it (docs/envelopes.md).
            replay_guard=ReplayGuard(window, journal=site.layout.root / REPLAY_JOURNAL),
        )
        self._redactor = Redactor(settings.redaction)
        # The store is thread-safe; the local model is not, and one generation at a time is all two
        # cores can run anyway.
        self._model_lock = threading.Lock()
        self._model_admitted = 0  # queries waiting for or running the model (at most settings.model_queue)
        self._admission_lock = threading.Lock()
        self._model_seconds = 2.0  # moving average of one generation, for Retry-After
        self._sketch_lock = threading.Lock()
        self._sketch: tuple[str, int, bytes] | None = None
        self._lead_health = LeadHealth()
        self._term_stats = TermStatsPublisher(site, settings.term_stats)
        self.admin_keys = GatewayKeyList(site.site_id, settings.admin_keys_max_age_s)
        self.query_observers: list[QueryObserver] = []
        self.feedback = FeedbackReceiver(
            site.site_id,
            FeedbackLog.at_site(site.layout.root),
            has_document=site.has_document,
            serving_version=lambda: site.serving_version,
        )

    @property
    def embedder_version(self) -> str:
        """The embedder version the site serves now (it changes when a re-embed switches)."""
        return self.site.serving_version

    def handle(self, sealed: bytes) -> bytes:
        """Answer one sealed ``SiteQuery`` with a sealed ``SiteReply``. Everything logged meanwhile names
        the query's request id (the gateway's, sealed inside the query); one audit line per query says
        who asked, what was done and how long it took: ids and counts, never the question or passages."""
        started = time.perf_counter()
        received = time.monotonic()
        query = SiteQuery.from_bytes(self._opener.open_bytes(sealed))
        ends_at = math.inf if query.deadline_s is None else received + query.deadline_s
        traced = {"ragfed.request_id": query.request_id, "ragfed.site": self.site.site_id}
        with request_context(query.request_id, started), span("site.query", **traced):
            with self._admitted(query):  # SiteBusyError (429) when the model's queue is full
                try:
                    reply = self._answer(query, ends_at)
                except RagFedError as error:
                    _log.warning("query %s failed: %s", query.request_id, error)
                    reply = self._failed(query, str(error))
            sealed_reply = self._seal(reply.to_bytes())
            seconds = time.perf_counter() - started
            _audit.info(
                "query %s from %s: %s, mode %s, k %d, %s, %d passages, %d evidence, %.1f ms",
                query.request_id,
                self.settings.gateway_id,
                reply.status,
                query.mode,
                query.k,
                "fetch" if query.fetch is not None else "search",
                len(reply.passages),
                len(reply.evidence),
                seconds * 1000,
            )
            for observe in self.query_observers:
                observe(query, reply, seconds)
        return sealed_reply

    @contextmanager
    def _admitted(self, query: SiteQuery) -> Iterator[None]:
        """A place in the model's bounded queue for a query that will use the model; others pass freely."""
        if not (query.want_answer and (query.phrase or self.settings.egress == "answer")):
            yield
            return
        with self._admission_lock:
            waiting = self._model_admitted
            if waiting >= self.settings.model_queue:
                retry = math.ceil(self._model_seconds * waiting / 2)
                raise SiteBusyError(
                    f"site {self.site.site_id} has {waiting} queries waiting for its model (limit "
                    f"{self.settings.model_queue}); try again in {retry} s",
                    retry,
                )
            self._model_admitted += 1
        try:
            yield
        finally:
            with self._admission_lock:
                self._model_admitted -= 1

    def handle_control(self, sealed: bytes) -> bytes:
        """Answer one sealed ``ModelControl`` with a sealed ``ModelControlReply``."""
        control = ModelControl.from_bytes(self._opener.open_bytes(sealed))
        status: ControlStatus = "ok"
        error: str | None = None
        try:
            apply_model_control(self.site, control, accept_rollouts=self.settings.accept_model_rollouts)
        except (InputError, NotFoundError) as refusal:
            status, error = "refused", str(refusal)
        except RagFedError as failure:
            status, error = "failed", str(failure)
        if error is not None:
            _log.warning("model %s refused or failed: %s", control.action, error)
        reply = ModelControlReply(
            request_id=control.request_id,
            site_id=self.site.site_id,
            status=status,
            serving_version=self.site.serving_version,
            previous_version=self.site.previous_version,
            reembed=self.site.reembed_status(),
            error=error[:2000] if error is not None else None,
        )
        return self._seal(reply.to_bytes())

    def sketch(self) -> bytes:
        """The site's sketch sealed to the gateway; recomputed when the version or chunk count changed."""
        with self._sketch_lock:
            version, count = self.site.serving_version, self.site.chunk_count
            if self._sketch is None or self._sketch[:2] != (version, count):
                snapshot = self.site.vector_snapshot()
                sketch = build_sketch(
                    self.site.site_id,
                    snapshot.embedder_version,
                    snapshot.vectors,
                    max_centroids=self.settings.sketch_centroids,
                )
                self._sketch = (snapshot.embedder_version, snapshot.vectors.shape[0], sketch.to_bytes())
            payload = self._sketch[2]
        return self._seal(payload)

    def invalidate_sketch(self) -> None:
        with self._sketch_lock:
            self._sketch = None

    def _answer(self, query: SiteQuery, ends_at: float) -> SiteReply:
        # A query without an embedding (keyword search, no answer) compares no vectors: any version serves it.
        embedded = query.embedding is not None
        if embedded and query.embedder_version != self.embedder_version:
            return self._failed(
                query,
                f"embedder version mismatch: the query was embedded with {query.embedder_version!r}, "
                f"this site serves {self.embedder_version!r}; the gateway must embed with the version "
                "the site serves (or wait until the site has re-embedded its index)",
            )
        query.require_dim(self.site.embedder.dim)
        require_normalised(query)
        if query.fetch is not None:
            return self._fetched(query)
        started = time.perf_counter()
        # The version is checked again against the store the search uses: the site may switch between.
        with span("site.search", mode=query.mode, k=query.k):
            searched = self.site.search_with_stats(
                # Keywords never match a span that would be redacted: a query for a redacted value must not
                # find (and score) the document that holds it.
                self._redactor.without_redacted(query.question),
                query.k,
                query.mode,
                query_vector=query.embedding,
                embedder_version=query.embedder_version if embedded else None,
                term_stats=query.term_stats,
            )
        passages = searched.passages
        timings = {"search": _ms_since(started)}
        answer: str | None = None
        evidence: list[Evidence] = []
        if query.want_answer and passages:
            with span("site.evidence"):
                evidence = self.site.evidence(query.question, passages, query.embedding, query.term_stats)
            timings["evidence"] = _ms_since(started) - timings["search"]
            # Under 'answer' egress no passage text leaves, evidence included: the site's own model
            # phrases what its evidence supports, and that checked text is what it sends.
            if query.phrase or self.settings.egress == "answer":
                with span("site.answer"):
                    answer, ran = self._local_answer(query, evidence, ends_at)
                # "answer_skipped": the time spent waiting for a model that was not free before the deadline
                stage = "answer" if ran else "answer_skipped"
                timings[stage] = _ms_since(started) - timings["search"] - timings["evidence"]
        # Beyond text_k only ids and cosines go (no text, no citation): nothing there for egress to redact.
        passages, beyond = text_only_for(passages, query.text_k)
        answer, released = apply_egress(answer, passages, self.settings.egress, self._redactor)
        depth = hybrid_depth(searched) if released else None
        return SiteReply(
            request_id=query.request_id,
            site_id=self.site.site_id,
            status="answered",
            answer=answer,
            passages=released,
            evidence=release_evidence(evidence, self.settings.egress, self._redactor),
            embedder_version=self.embedder_version,
            timings_ms=timings,
            egress=self.settings.egress,
            # Only to a gateway that sent statistics: an older one refuses fields it does not know.
            term_stats=searched.term_stats,
            term_stats_version=searched.version if query.term_stats is not None else None,
            hybrid_depth=depth,
            candidates=searched.candidates if depth is not None else beyond,
        )

    def _fetched(self, query: SiteQuery) -> SiteReply:
        """The passages of chunks named by the gateway (candidates that made the top k), under egress."""
        assert query.fetch is not None
        _, released = apply_egress(None, self.site.fetch_passages(query.fetch), self.settings.egress, self._redactor)
        return SiteReply(
            request_id=query.request_id,
            site_id=self.site.site_id,
            status="answered",
            passages=released,
            embedder_version=self.embedder_version,
            egress=self.settings.egress,
        )

    def handle_term_stats(self, sealed: bytes) -> bytes:
        """Answer a sealed ``TermStatsRequest`` with the site's sealed ``TermStatsPublication``."""
        request = TermStatsRequest.from_bytes(self._opener.open_bytes(sealed))
        if request.question is not None:  # the counts of one question's phrases
            return self._seal(self._term_stats.phrase_counts(request.question, request.request_id).to_bytes())
        publication = self._term_stats.publish(request.key_bytes(), request.request_id)
        return self._seal(publication.to_bytes())

    def handle_admin_keys(self, sealed: bytes) -> bytes:
        """Take the gateway's sealed ``AdminKeyList`` (unless a newer one is held); a sealed ack back."""
        envelope = SealedEnvelope.from_bytes(sealed)
        keys = AdminKeyList.from_bytes(self._opener.open(envelope))
        taken = self.admin_keys.accept(keys, envelope.sent_at)
        if taken:
            _log.info("admin key list from the gateway: %d keys", len(keys.keys))
        ack = AdminKeyListAck(
            request_id=keys.request_id,
            site_id=self.site.site_id,
            status="ok" if taken else "stale",
            keys=self.admin_keys.status().keys,
        )
        return self._seal(ack.to_bytes())

    def open_message(self, sealed: bytes, message_type: type[MessageT]) -> MessageT:
        """A sealed message from the gateway, opened (replays and forgeries refused) and parsed."""
        return message_type.from_bytes(self._opener.open_bytes(sealed))

    def seal_message(self, message: SealedMessage) -> bytes:
        """``message`` sealed to the gateway."""
        return self._seal(message.to_bytes())

    def _local_answer(self, query: SiteQuery, evidence: list[Evidence], ends_at: float) -> tuple[str | None, bool]:
        """The model's checked lead (``None`` if it wrote none) and whether the model ran. It does not
        when it is not free while a lead sentence could still reach the gateway before ``ends_at``: the
        gateway has given up on the question by then, and the queries behind it need the model."""
        budget = self.site.settings.answers.lead_budget_s
        wait = -1.0 if math.isinf(ends_at) else max(0.0, ends_at - time.monotonic() - budget)
        if not self._model_lock.acquire(timeout=wait):
            _log.info("query %s: the model was not free before the gateway's deadline; evidence only", query.request_id)
            return None, False
        try:
            started = time.perf_counter()
            composer = AnswerComposer(self.site.settings.answers, self.site.generator, lead_health=self._lead_health)
            composed = composer.compose(
                query.question,
                evidence,
                sites=[self.site.site_id],
                strategy="grounded",
                ends_at=None if math.isinf(ends_at) else ends_at,
            )
            self._model_seconds = 0.8 * self._model_seconds + 0.2 * (time.perf_counter() - started)
        except RagFedError as error:
            # The evidence is still worth sending; the gateway composes from what it gets.
            _log.error("local model failed on query %s: %s", query.request_id, error)
            return None, True
        finally:
            self._model_lock.release()
        return composed.lead or None, True  # the evidence itself travels beside it, under the egress policy

    def _failed(self, query: SiteQuery, reason: str) -> SiteReply:
        return SiteReply(
            request_id=query.request_id,
            site_id=self.site.site_id,
            status="failed",
            error=self._redactor(reason)[:2000],
            embedder_version=self.embedder_version,
            egress=self.settings.egress,
        )

    def _seal(self, payload: bytes) -> bytes:
        return seal(
            payload,
            sender=self._keys,
            sender_id=self.site.site_id,
            recipient_id=self.settings.gateway_id,
            recipient_key=self._gateway_key,
        ).to_bytes()


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000
