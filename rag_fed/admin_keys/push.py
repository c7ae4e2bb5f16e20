"""The coordinator's side: seal each site's admin-key list to it and POST it (``ADMIN_KEYS_PATH``).

Used by the gateway (at start and every ``admin_keys_push_s``) and by ``ragfed keys create|revoke`` (at
once, for the key's site), so a change reaches a reachable site in about a second and any site within the
site's ``admin_keys_max_age_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from rag_fed.admin_keys.messages import ADMIN_KEYS_PATH, AdminKeyEntry, AdminKeyList, AdminKeyListAck
from rag_fed.crypto import KeyPair
from rag_fed.errors import RagFedError
from rag_fed.federation.registry import RegisteredSite
from rag_fed.federation.sealed_call import SiteRefusedError, call_site

__all__ = ["PushResult", "push_admin_keys"]


@dataclass(frozen=True)
class PushResult:
    """``ok``: the site holds the list now; otherwise ``reason`` says why it did not take it."""

    site_id: str
    ok: bool
    keys: int
    reason: str | None = None


def push_admin_keys(
    site: RegisteredSite,
    entries: Sequence[AdminKeyEntry],
    *,
    keys: KeyPair,
    gateway_id: str,
    http: httpx.Client,
    timeout_s: float = 5.0,
) -> PushResult:
    """Send ``site`` its complete list of active admin keys; never raises for a site that fails."""
    message = AdminKeyList(site_id=site.site_id, keys=list(entries))
    try:
        ack = call_site(
            http,
            site,
            ADMIN_KEYS_PATH,
            message,
            AdminKeyListAck,
            keys=keys,
            gateway_id=gateway_id,
            timeout_s=timeout_s,
            noun="ack",
        )
    except SiteRefusedError as error:
        return PushResult(site.site_id, False, len(entries), str(error))
    except httpx.HTTPError as error:
        return PushResult(site.site_id, False, len(entries), f"{site.url}: {type(error).__name__}: {error}")
    except RagFedError as error:
        return PushResult(site.site_id, False, len(entries), f"{type(error).__name__}: {error}")
    if ack.status != "ok":
        return PushResult(site.site_id, False, len(entries), "the site holds a newer list (clocks out of step?)")
    return PushResult(site.site_id, True, ack.keys)
