"""The coordinator's side of a model rollout: sealed ``ModelControl`` messages to the registered sites.

A :class:`Coordinator` is who speaks and to whom: the site registry, the gateway's key pair
(``KeyPair.load(<gateway home>/keys)``: a site accepts controls only from the gateway key it trusts for
queries, under the same envelope checks and replay guard), the gateway's id, and the CA that signs
``https://`` sites (pass the gateway's ``tls_ca_file``; default: the system trust store), as the
gateway's own queries are verified. ``rollout``, ``rollback`` and ``status`` ask ``sites`` (a subset of
the registered sites, ``UnknownSiteError`` for an unknown one; by default all of them, concurrently) and
return one ``SiteControlResult`` per site, sorted by site id: ``ok``, ``refused`` (by the site's
settings, or the request does not apply there) or ``failed`` (unreachable, a TLS failure, an error, a
reply that does not open), always with a reason unless ``ok``.

A rollout only starts each site's re-embed (loading the model first, so a bad folder is reported at
once); poll ``status`` to see the progress and the switch. The model folder's path is sent as the
registry holds it: it must be readable by the sites (same machine or shared storage). Fetching weights
over the network is not part of the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict

from rag_fed.crypto import KeyPair
from rag_fed.errors import RagFedError
from rag_fed.federation.models import ModelRegistry
from rag_fed.federation.registry import RegisteredSite, SiteRegistry
from rag_fed.federation.sealed_call import SiteRefusedError, call_site
from rag_fed.protocol import ModelControl, ModelControlReply, ReembedProgress
from rag_fed.router.clients import MODEL_PATH, describe_http_error, site_tls_context

__all__ = ["Coordinator", "SiteControlResult"]

_MAX_PARALLEL = 16


class SiteControlResult(BaseModel):
    """How one site took a control: ``outcome`` and, when it replied, what it serves and its re-embed."""

    model_config = ConfigDict(frozen=True)

    site_id: str
    outcome: Literal["ok", "refused", "failed"]
    reason: str | None = None
    serving_version: str | None = None
    previous_version: str | None = None
    reembed: ReembedProgress | None = None


@dataclass(frozen=True)
class Coordinator:
    """Sends sealed model controls to the registered sites (see the module docstring)."""

    registry: SiteRegistry
    keys: KeyPair
    gateway_id: str = "gateway"
    ca_file: Path | None = None

    def rollout(
        self, version: str, models: ModelRegistry, *, sites: Sequence[str] | None = None, timeout_s: float = 120.0
    ) -> list[SiteControlResult]:
        """Ask the sites to re-embed for ``version`` (which must be in ``models``) and then serve it."""
        entry = models.get(version)
        control = ModelControl(action="rollout", version=entry.version, model_path=str(entry.path))
        return self._broadcast(control, sites, timeout_s)

    def rollback(self, *, sites: Sequence[str] | None = None, timeout_s: float = 120.0) -> list[SiteControlResult]:
        """Ask the sites to go back to their previous store (or cancel a rollout still re-embedding)."""
        return self._broadcast(ModelControl(action="rollback"), sites, timeout_s)

    def status(self, *, sites: Sequence[str] | None = None, timeout_s: float = 10.0) -> list[SiteControlResult]:
        """What each site serves, what it could roll back to, and its re-embed's progress."""
        return self._broadcast(ModelControl(action="status"), sites, timeout_s)

    def _broadcast(
        self, control: ModelControl, sites: Sequence[str] | None, timeout_s: float
    ) -> list[SiteControlResult]:
        registry = self.registry
        targets = [registry.get(site_id) for site_id in dict.fromkeys(sites)] if sites is not None else registry.list()
        if not targets:
            return []
        verify = site_tls_context(self.ca_file)
        with httpx.Client(verify=verify) as http, ThreadPoolExecutor(min(_MAX_PARALLEL, len(targets))) as pool:
            results = pool.map(lambda site: _send(control, site, self.keys, self.gateway_id, timeout_s, http), targets)
            return sorted(results, key=lambda result: result.site_id)


def _send(
    control: ModelControl, site: RegisteredSite, keys: KeyPair, gateway_id: str, timeout_s: float, http: httpx.Client
) -> SiteControlResult:
    try:
        reply = call_site(
            http, site, MODEL_PATH, control, ModelControlReply, keys=keys, gateway_id=gateway_id, timeout_s=timeout_s
        )
    except SiteRefusedError as error:
        return _failed(site, str(error))
    except httpx.TimeoutException:
        return _failed(site, f"no reply within {timeout_s:.0f} s")
    except httpx.HTTPError as error:
        return _failed(site, f"{site.url}: {describe_http_error(error)}")
    except RagFedError as error:
        return _failed(site, f"{type(error).__name__}: {error}")
    return SiteControlResult(
        site_id=site.site_id,
        outcome=reply.status,
        reason=reply.error,
        serving_version=reply.serving_version,
        previous_version=reply.previous_version,
        reembed=reply.reembed,
    )


def _failed(site: RegisteredSite, reason: str) -> SiteControlResult:
    return SiteControlResult(site_id=site.site_id, outcome="failed", reason=reason)
