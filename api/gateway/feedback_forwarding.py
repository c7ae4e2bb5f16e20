"""Forwarding an engineer's judgement on a citation, sealed, to the site that owns the passage.

The gateway keeps nothing of it (only the audit line that feedback was given): the site logs it for
fine-tuning (``rag_fed.feedback``). A site that cannot be reached does not get it later either: the
receipt says so, and the judgement is gone, which is the price of not keeping it centrally.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import httpx

from rag_fed.crypto import KeyPair
from rag_fed.errors import RagFedError, UnknownDocumentError
from rag_fed.federation import SiteRegistry
from rag_fed.federation.sealed_call import SiteRefusedError, call_site
from rag_fed.feedback.messages import FEEDBACK_PATH, SiteFeedback, SiteFeedbackAck
from rag_fed.router.clients import site_tls_context

__all__ = ["FeedbackForwarder", "Forwarded"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Forwarded:
    """``delivered``: the site holds the judgement (``duplicate``: it already did); else ``reason``."""

    delivered: bool
    duplicate: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class FeedbackForwarder:
    registry: SiteRegistry
    keys: KeyPair
    gateway_id: str = "gateway"
    ca_file: Path | None = None
    timeout_s: float = 5.0

    def forward(self, message: SiteFeedback) -> Forwarded:
        """Send ``message`` to its site. ``UnknownSiteError`` for a site not registered here and
        ``UnknownDocumentError`` when the site holds no such document (the caller's mistake); an
        unreachable or failing site is a ``Forwarded`` with the reason, not an error."""
        site = self.registry.get(message.site_id)
        try:
            with httpx.Client(verify=site_tls_context(self.ca_file)) as http:
                ack = call_site(
                    http,
                    site,
                    FEEDBACK_PATH,
                    message,
                    SiteFeedbackAck,
                    keys=self.keys,
                    gateway_id=self.gateway_id,
                    timeout_s=self.timeout_s,
                    noun="feedback ack",
                )
        except SiteRefusedError as error:
            _log.warning("feedback not taken by site %s: %s", site.site_id, error)
            return Forwarded(False, reason=f"site {site.site_id} did not take it: {error}"[:500])
        except httpx.HTTPError as error:
            _log.warning("feedback not delivered to site %s: %s", site.site_id, type(error).__name__)
            return Forwarded(False, reason=f"site {site.site_id} could not be reached ({type(error).__name__})")
        except RagFedError as error:
            _log.warning("feedback to site %s: bad ack: %s", site.site_id, error)
            return Forwarded(False, reason=f"site {site.site_id} sent an answer that does not open or parse")
        if ack.status == "refused":
            raise UnknownDocumentError(ack.reason or f"site {site.site_id} refused the judgement")
        return Forwarded(True, duplicate=ack.status == "duplicate")
