"""FastAPI dependencies of the gateway: the service, the caller, and the roles each route admits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.gateway.keystore import Caller, KeyStore, Role
from api.gateway.service import GatewayService
from rag_fed.errors import AuthError, ForbiddenError

__all__ = ["AnyCaller", "Asker", "CurrentCaller", "Service", "SiteViewer", "Store", "require_roles"]

_bearer = HTTPBearer(auto_error=False, description="An API key made with `ragfed keys create`.")


def get_service(request: Request) -> GatewayService:
    service: GatewayService = request.app.state.service
    return service


Service = Annotated[GatewayService, Depends(get_service)]


def get_store(service: Service) -> KeyStore:
    return service.keystore


Store = Annotated[KeyStore, Depends(get_store)]


async def current_caller(
    store: Store, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """The caller behind the bearer key, else ``AuthError`` (401)."""
    if credentials is None:
        raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
    return await run_in_threadpool(store.authenticate, credentials.credentials)


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def require_roles(*roles: Role) -> Callable[..., object]:
    """A dependency admitting only ``roles``; a refusal is audited and raises ``ForbiddenError`` (403)."""
    allowed = frozenset(roles)

    async def check(caller: CurrentCaller, store: Store, request: Request) -> Caller:
        if caller.role not in allowed:
            await run_in_threadpool(store.audit, caller, request.url.path, "denied")
            names = ", ".join(sorted(role.value for role in allowed))
            raise ForbiddenError(f"role {caller.role.value!r} may not call {request.url.path}; allowed: {names}")
        return caller

    return check


AnyCaller = CurrentCaller
Asker = Annotated[Caller, Depends(require_roles(Role.ENGINEER, Role.EVALUATOR))]
SiteViewer = Annotated[Caller, Depends(require_roles(Role.OPERATOR, Role.SITE_ADMIN))]
