"""The gateway's answers: composed from the sites' evidence (rag_fed.answers), with the central model
loaded on first use by a strategy that needs it, and timed into the gateway's metrics and spans.

The composition itself is blocking work, run by the caller in a worker thread (``AnswerStream``), so one
slow generation never stalls other requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

from fastapi.concurrency import run_in_threadpool

from api.observability import GatewayMetrics
from rag_fed.answers.compose import AnswerComposer, AnswerStream, LeadHealth
from rag_fed.answers.ranking import evidence_for_answer
from rag_fed.config import AnswerSettings, AnswerStrategy, GeneratorSettings
from rag_fed.errors import ModelError, RagFedError
from rag_fed.generators import load_generator
from rag_fed.generators.base import ChatMessage, Generator, StreamingGenerator
from rag_fed.observability import record_span, request_started
from rag_fed.router import FederatedResult

__all__ = ["GatewayAnswers"]

_log = logging.getLogger(__name__)


class _Unavailable(StreamingGenerator):
    """Stands in for a central model that failed to load, so fusion falls back and says why."""

    name = "unavailable"

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        raise ModelError(self._reason)


class GatewayAnswers:
    """One per gateway: the central model (``generator``, else loaded from ``generator_settings`` when first
    needed) and whether its leads have been on time of late (``lead_health``)."""

    def __init__(
        self,
        settings: AnswerSettings,
        generator_settings: GeneratorSettings,
        metrics: GatewayMetrics,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings
        self._generator_settings = generator_settings
        self._metrics = metrics
        self._generator = generator
        self.lead_health = LeadHealth()

    async def central_model(self) -> Generator:
        if self._generator is None:
            try:
                self._generator = await run_in_threadpool(load_generator, self._generator_settings)
            except RagFedError as error:
                _log.error("central model unavailable: %s", error)
                return _Unavailable(str(error))
        return self._generator

    async def stream(
        self,
        question: str,
        result: FederatedResult,
        history: Sequence[ChatMessage] = (),
        *,
        strategy: AnswerStrategy | None = None,
        max_tokens: int | None = None,
    ) -> AnswerStream:
        """The answer composed from the sites' evidence (and the sites' phrased answers, where a site
        sends no evidence text); the central model is loaded only for a strategy that uses it."""
        settings = self.settings
        chosen = strategy or settings.strategy
        if max_tokens is not None:
            settings = settings.model_copy(update={"lead_max_tokens": max_tokens, "generative_max_tokens": max_tokens})
        generator = await self.central_model() if chosen != "extractive" else None
        evidence = evidence_for_answer(result.evidence, result.answers)
        asked = [site.site_id for site in result.sites if site.status != "skipped"]
        stream = AnswerComposer(settings, generator, lead_health=self.lead_health).stream(
            question, evidence, sites=asked, history=history, strategy=chosen, answered=result.answered
        )
        return self._timed(stream)

    def _timed(self, inner: AnswerStream) -> AnswerStream:
        """``inner``, observed: the time to its first text (from the request's arrival), to its end, and
        how the answer came out."""
        arrived = request_started()
        metrics = self._metrics

        def produce(outer: AnswerStream) -> Iterator[str]:
            composing, composing_ns = time.perf_counter(), time.time_ns()
            first = True
            for delta in inner:
                if first and delta:
                    first = False
                    metrics.stage("first_token", time.perf_counter() - (arrived or composing))
                yield delta
            metrics.stage("compose", time.perf_counter() - composing)
            outer.result = inner.result
            if inner.result is not None:
                metrics.answer(inner.result.strategy, inner.result.refused)
                record_span(
                    "gateway.compose", composing_ns, strategy=inner.result.strategy, refused=inner.result.refused
                )

        return AnswerStream(produce)
