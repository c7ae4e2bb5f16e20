"""Sending every registered site the site-admin keys the gateway issued for it (docs/security.md).

``AdminKeyDistributor.push`` seals each site's complete list of active keys to it and posts it; the gateway
runs it at start and every ``admin_keys_push_s``, and ``ragfed keys create|revoke`` runs it at once for
the key's site. A site honours a list for ``admin_keys_max_age_s`` only, so a site the gateway cannot
reach refuses gateway-issued keys after that time instead of honouring a revoked one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.gateway.keystore import KeyStore
from rag_fed.admin_keys import AdminKeyEntry
from rag_fed.admin_keys.push import PushResult, push_admin_keys
from rag_fed.crypto import KeyPair
from rag_fed.federation import SiteRegistry
from rag_fed.federation.registry import RegisteredSite
from rag_fed.router.clients import site_tls_context

__all__ = ["AdminKeyDistributor"]

_log = logging.getLogger(__name__)
_MAX_PARALLEL = 16


@dataclass(frozen=True)
class AdminKeyDistributor:
    """Who sends (the gateway's key pair and id) what (the key store) to whom (the registry)."""

    keystore: KeyStore
    registry: SiteRegistry
    keys: KeyPair
    gateway_id: str = "gateway"
    ca_file: Path | None = None
    timeout_s: float = 5.0

    def push(self, sites: Sequence[str] | None = None) -> list[PushResult]:
        """Send ``sites`` (default: every registered site) their lists; one result per site, by site id."""
        registered = self.registry.list()
        targets = [site for site in registered if sites is None or site.site_id in sites]
        if not targets:
            return []
        with (
            httpx.Client(verify=site_tls_context(self.ca_file)) as http,
            ThreadPoolExecutor(min(_MAX_PARALLEL, len(targets))) as pool,
        ):

            def send(site: RegisteredSite) -> PushResult:
                hashes = self.keystore.site_admin_hashes(site.site_id)
                entries = [AdminKeyEntry(key_id=key_id, key_sha256=digest) for key_id, digest in hashes]
                return push_admin_keys(
                    site, entries, keys=self.keys, gateway_id=self.gateway_id, http=http, timeout_s=self.timeout_s
                )

            results = sorted(pool.map(send, targets), key=lambda result: result.site_id)
        for result in results:
            if not result.ok:
                _log.warning("admin keys not delivered to site %s: %s", result.site_id, result.reason)
        return results
