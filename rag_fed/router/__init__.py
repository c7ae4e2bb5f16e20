"""The gateway's router: which sites to ask, how to reach them, and how their replies are merged."""

from rag_fed.router.breaker import BreakerState, CircuitBreaker, CircuitBreakers
from rag_fed.router.clients import HttpSiteClient, InProcessSiteClient, SiteClient, SketchClient
from rag_fed.router.merge import merge_passages
from rag_fed.router.result import FederatedResult, SiteOutcome
from rag_fed.router.router import Router
from rag_fed.router.selection import RoutingPolicy, choose_by_sketch, score_sites
from rag_fed.router.sketch import SiteSketch, sketch_score

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CircuitBreakers",
    "FederatedResult",
    "HttpSiteClient",
    "InProcessSiteClient",
    "Router",
    "RoutingPolicy",
    "SiteClient",
    "SiteOutcome",
    "SiteSketch",
    "SketchClient",
    "choose_by_sketch",
    "merge_passages",
    "score_sites",
    "sketch_score",
]
