"""Site-admin keys issued at the gateway reaching the sites: a key list sealed by the gateway to each site,
pushed on every change and every few seconds, and refused by the site once it is too old (docs/security.md)."""

from rag_fed.admin_keys.messages import ADMIN_KEYS_PATH, AdminKeyEntry, AdminKeyList, AdminKeyListAck
from rag_fed.admin_keys.site_list import GatewayKeyList

__all__ = ["ADMIN_KEYS_PATH", "AdminKeyEntry", "AdminKeyList", "AdminKeyListAck", "GatewayKeyList"]
