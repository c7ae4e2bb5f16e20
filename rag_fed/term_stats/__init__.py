"""Federation-wide BM25 statistics (docs/term-statistics.md): what a site publishes about its keyword
index (``TermStatsPublication``: counts keyed by a keyed hash of each term, after a floor and optional
noise), what that costs in privacy (``PrivacyCost``), and the gateway's sum of them
(``FederationTermStats``), from which each query gets the statistics of its own terms."""

from rag_fed.term_stats.federation import FederationTermStats
from rag_fed.term_stats.key import load_or_create_term_key
from rag_fed.term_stats.privacy import PrivacyCost, PrivacyLedger, publication_cost
from rag_fed.term_stats.publication import (
    KEY_BYTES,
    PublicationPolicy,
    TermStatsPublication,
    TermStatsRequest,
    build_publication,
    key_id,
    term_hashes,
)

__all__ = [
    "KEY_BYTES",
    "FederationTermStats",
    "PrivacyCost",
    "PrivacyLedger",
    "PublicationPolicy",
    "TermStatsPublication",
    "TermStatsRequest",
    "build_publication",
    "key_id",
    "load_or_create_term_key",
    "publication_cost",
    "term_hashes",
]
