"""FastAPI dependencies of a site service: its responder, its metrics and admin audit log, and the site
admin check every ``/v1/admin/`` route but ``/health`` requires."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.apikeys import key_id_of, keys_match
from api.observability import SiteMetrics
from api.site_service.audit import SiteAuditLog
from api.site_service.open_site import ServiceResponder
from rag_fed.errors import AuthError

__all__ = ["AuditLog", "Metrics", "Responder", "SiteAdmin", "get_responder", "require_site_admin"]

_bearer = HTTPBearer(auto_error=False, description="A site admin key (rfk_...) of this site.")


def get_responder(request: Request) -> ServiceResponder:
    responder: ServiceResponder = request.app.state.responder
    return responder


Responder = Annotated[ServiceResponder, Depends(get_responder)]


def get_metrics(request: Request) -> SiteMetrics:
    metrics: SiteMetrics = request.app.state.metrics
    return metrics


Metrics = Annotated[SiteMetrics, Depends(get_metrics)]


def get_audit_log(request: Request) -> SiteAuditLog:
    log: SiteAuditLog = request.app.state.admin_audit
    return log


AuditLog = Annotated[SiteAuditLog, Depends(get_audit_log)]


def _admin_hashes(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return {}
    pairs = (line.split() for line in lines if line.strip() and not line.startswith("#"))
    return {fields[0]: fields[1] for fields in pairs if len(fields) == 2}


def require_site_admin(
    request: Request,
    responder: Responder,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The key id of a valid admin key of this site, else ``AuthError`` (401).

    A key is valid when the site's own admin-keys file holds it (re-read on every call, so a line added or
    removed applies at once) or the gateway's key list, while that list is fresh, holds it
    (docs/security.md: a key revoked at the gateway is refused here within ``admin_keys_max_age_s``)."""
    if credentials is None:
        raise AuthError("missing admin key: send 'Authorization: Bearer <site admin key>'")
    key = credentials.credentials
    key_id = key_id_of(key)
    if key_id is None:
        raise AuthError("invalid admin key for this site")
    path = responder.settings.admin_keys_path(responder.site.layout.root)
    stored = _admin_hashes(path).get(key_id)
    if stored is None:
        stored = responder.admin_keys.lookup(key_id)
    if stored is None or not keys_match(key, stored):
        raise AuthError("invalid or revoked admin key for this site")
    request.state.admin_key_id = key_id  # for the audit log (api/site_service/audit.py)
    return key_id


SiteAdmin = Annotated[str, Depends(require_site_admin)]
