"""The gateway: authenticates callers, routes sealed queries to the sites, fuses their answers.

Never imports ``api.site_service``: the gateway knows a site only through the wire protocol.
"""

from api.gateway.app import build_service, create_gateway_app, load_or_create_keys
from api.gateway.keystore import Caller, KeyStore, Role
from api.gateway.service import GatewayService
from rag_fed.coordinator.settings import GatewaySettings

__all__ = [
    "Caller",
    "GatewayService",
    "GatewaySettings",
    "KeyStore",
    "Role",
    "build_service",
    "create_gateway_app",
    "load_or_create_keys",
]
