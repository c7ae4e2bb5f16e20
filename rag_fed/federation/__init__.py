"""Federation bookkeeping at the gateway: which sites exist, where they answer, and their keys."""

from rag_fed.federation.registry import RegisteredSite, SiteKey, SiteRegistry, validate_site_url

__all__ = ["RegisteredSite", "SiteKey", "SiteRegistry", "validate_site_url"]
