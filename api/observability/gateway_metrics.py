"""The gateway's metrics: how long each stage of a question takes, how each site fares, its breaker,
what the answers were, feedback, and which embedder the gateway serves. One registry per instance.

Breaker states, registered sites and the embedder version are read when Prometheus scrapes (a collector
over the live router), so they are never stale and cost nothing between scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from api.observability.http import LATENCY_BUCKETS, HttpMetrics
from rag_fed.router import FederatedResult
from rag_fed.router.breaker import BreakerState, CircuitBreakers

__all__ = ["BREAKER_VALUES", "GatewayMetrics", "GatewayStage"]

GatewayStage = Literal["embed", "route", "compose", "first_token"]
"""``embed`` (the question's embedding), ``route`` (selection, sealed fan-out, merge: the router's whole
query), ``compose`` (the answer from the sites' evidence, to its last token), ``first_token`` (from the
request's arrival to the answer's first text)."""

BREAKER_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
_SITES_BUCKETS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200)


class _LiveState:
    """Breakers, registered sites and the embedder version, read at scrape time."""

    def __init__(
        self,
        breakers: Callable[[], CircuitBreakers],
        sites: Callable[[], Iterable[str]],
        embedder_versions: Callable[[], Iterable[str]],
    ) -> None:
        self._breakers, self._sites, self._versions = breakers, sites, embedder_versions

    def collect(self) -> Iterable[Metric]:
        sites = sorted(self._sites())
        breakers = self._breakers()
        state = GaugeMetricFamily(
            "ragfed_gateway_site_breaker_state",
            "Circuit breaker of each registered site: 0 closed (asked), 1 half-open (one probe), 2 open (skipped).",
            labels=["site"],
        )
        failures = GaugeMetricFamily(
            "ragfed_gateway_site_consecutive_failures",
            "Consecutive failures of each site (its breaker opens at routing.failure_threshold).",
            labels=["site"],
        )
        for site_id in sites:
            breaker = breakers.for_site(site_id)
            state.add_metric([site_id], BREAKER_VALUES[breaker.state])
            failures.add_metric([site_id], breaker.consecutive_failures)
        registered = GaugeMetricFamily("ragfed_gateway_sites", "Sites registered at the gateway.", value=len(sites))
        info = GaugeMetricFamily(
            "ragfed_gateway_embedder_info",
            "Embedder versions the gateway has loaded (value 1 each; two during a rollout).",
            labels=["version"],
        )
        for version in sorted(self._versions()):
            info.add_metric([version], 1)
        return [state, failures, registered, info]


class _Admission:
    """Answers in progress and refused busy, read at scrape time from the gateway's admission."""

    def __init__(self, in_flight: Callable[[], int], refused: Callable[[], Mapping[str, int]]) -> None:
        self._in_flight, self._refused = in_flight, refused

    def collect(self) -> Iterable[Metric]:
        current = GaugeMetricFamily(
            "ragfed_gateway_answers_in_flight",
            "Answers in progress (admitted, not yet finished); at most answers_in_flight.",
            value=self._in_flight(),
        )
        refused = CounterMetricFamily(
            "ragfed_gateway_answers_refused_busy",
            "Answers refused with 429: the caller had answers_per_caller in progress (caller), or all callers "
            "together answers_in_flight (total).",
            labels=["reason"],
        )
        counts = self._refused()
        for reason in ("caller", "total"):
            refused.add_metric([reason], counts.get(reason, 0))
        return [current, refused]


class GatewayMetrics:
    """``registry`` holds everything the gateway's ``/metrics`` serves (HTTP requests included)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.http = HttpMetrics(registry)
        self._stages = Histogram(
            "ragfed_gateway_stage_seconds",
            "Time of each stage of a question at the gateway: embed, route, compose, first_token.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._replies = Counter(
            "ragfed_gateway_site_replies",
            "Each site's part in each question: answered, failed, timed_out, or skipped (not selected, "
            "or breaker open).",
            ["site", "outcome"],
            registry=registry,
        )
        self._site_seconds = Histogram(
            "ragfed_gateway_site_call_seconds",
            "Time of each sealed call to a site, from sealing the query to opening the reply (or the failure).",
            ["site"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._bytes = Counter(
            "ragfed_gateway_site_bytes",
            "Bytes of sealed queries sent to and replies received from each site.",
            ["site", "direction"],
            registry=registry,
        )
        self._asked = Histogram(
            "ragfed_gateway_sites_asked",
            "How many sites each question was sent to (selection and open breakers leave some out).",
            buckets=_SITES_BUCKETS,
            registry=registry,
        )
        self._answers = Counter(
            "ragfed_gateway_answers",
            "Answers composed, by strategy and whether the documents did not cover the question (refused).",
            ["strategy", "refused"],
            registry=registry,
        )
        self._feedback = Counter(
            "ragfed_gateway_feedback",
            "Engineers' judgements received: on the answer or a citation, useful or not.",
            ["target", "useful"],
            registry=registry,
        )

    def watch(
        self,
        breakers: Callable[[], CircuitBreakers],
        sites: Callable[[], Iterable[str]],
        embedder_versions: Callable[[], Iterable[str]],
    ) -> None:
        """Serve the live breaker states, registered sites and embedder versions (read at each scrape)."""
        self.registry.register(_LiveState(breakers, sites, embedder_versions))

    def watch_admission(self, in_flight: Callable[[], int], refused: Callable[[], Mapping[str, int]]) -> None:
        """Serve the answers in progress and the busy refusals (read at each scrape)."""
        self.registry.register(_Admission(in_flight, refused))

    def stage(self, stage: GatewayStage, seconds: float) -> None:
        self._stages.labels(stage).observe(seconds)

    def federated(self, result: FederatedResult) -> None:
        """What one question's fan-out did at each site."""
        asked = 0
        for site in result.sites:
            self._replies.labels(site.site_id, site.status).inc()
            if site.status == "skipped":
                continue
            asked += 1
            self._site_seconds.labels(site.site_id).observe(site.latency_ms / 1000)
            self._bytes.labels(site.site_id, "sent").inc(site.bytes_sent)
            self._bytes.labels(site.site_id, "received").inc(site.bytes_received)
        self._asked.observe(asked)

    def answer(self, strategy: str, refused: bool) -> None:
        self._answers.labels(strategy, _flag(refused)).inc()

    def feedback(self, on_citation: bool, useful: bool) -> None:
        self._feedback.labels("citation" if on_citation else "answer", _flag(useful)).inc()


def _flag(value: bool) -> str:
    return "true" if value else "false"
