"""The URL paths of a site service, shared by the site (which serves them) and the router (which calls them)."""

__all__ = [
    "HEALTH_PATH",
    "HOST_QUERY_PATH",
    "MODEL_PATH",
    "QUERY_PATH",
    "SITES_PREFIX",
    "SKETCH_PATH",
    "TERM_STATS_PATH",
]

QUERY_PATH = "/v1/site/query"
SKETCH_PATH = "/v1/site/sketch"
TERM_STATS_PATH = "/v1/site/term-stats"
"""Sealed ``TermStatsRequest`` in, the site's sealed ``TermStatsPublication`` out (docs/term-statistics.md)."""
MODEL_PATH = "/v1/site/model"
"""Sealed ``ModelControl`` messages from the coordinator (``rag_fed.federation.rollout``)."""
HEALTH_PATH = "/health"

SITES_PREFIX = "/sites"
"""On a site host (several sites in one process) a site's URL is ``<host URL>/sites/<site id>``."""
HOST_QUERY_PATH = "/v1/host/query"
"""On a site host: the sealed queries of several of its sites in one request (``rag_fed.wire.batch``)."""
