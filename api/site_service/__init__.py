"""One site's HTTP service: sealed queries and sketches for the gateway, and the site admin API.

Never imports ``api.gateway``: a site and the gateway share only ``rag_fed`` and the wire protocol.
"""

from api.site_service.app import create_site_app
from api.site_service.open_site import open_responder
from api.site_service.settings import ADMIN_KEYS_FILE, SiteServiceSettings
from rag_fed.site.egress import EgressPolicy, RedactionSettings, Redactor, apply_egress
from rag_fed.site.responder import SiteResponder

__all__ = [
    "ADMIN_KEYS_FILE",
    "EgressPolicy",
    "RedactionSettings",
    "Redactor",
    "SiteResponder",
    "SiteServiceSettings",
    "apply_egress",
    "create_site_app",
    "open_responder",
]
