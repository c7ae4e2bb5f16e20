"""The sealed messages of admin-key distribution: the gateway's ``AdminKeyList`` for one site and the site's
``AdminKeyListAck``. Only key ids and SHA-256 hashes travel, never keys."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag_fed.crypto.ids import NODE_ID_PATTERN
from rag_fed.wire.message import SealedMessage

__all__ = ["ADMIN_KEYS_PATH", "MAX_ADMIN_KEYS", "AdminKeyEntry", "AdminKeyList", "AdminKeyListAck"]

ADMIN_KEYS_PATH = "/v1/site/admin-keys"
MAX_ADMIN_KEYS = 10_000

_SiteId = Annotated[str, Field(pattern=NODE_ID_PATTERN)]
_RequestId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class AdminKeyEntry(BaseModel):
    """One active site-admin key: its id (not secret) and the SHA-256 of the whole key."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{12}$")]
    key_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class AdminKeyList(SealedMessage):
    """Every active site-admin key of ``site_id`` at the gateway, complete: a key missing from it is revoked."""

    kind: Literal["admin_key_list"] = "admin_key_list"
    site_id: _SiteId
    keys: Annotated[list[AdminKeyEntry], Field(max_length=MAX_ADMIN_KEYS)]
    request_id: _RequestId = Field(default_factory=lambda: uuid.uuid4().hex)


class AdminKeyListAck(SealedMessage):
    """The site took the list (``ok``, with how many keys it now honours) or kept a newer one (``stale``)."""

    kind: Literal["admin_key_list_ack"] = "admin_key_list_ack"
    request_id: _RequestId
    site_id: _SiteId
    status: Literal["ok", "stale"]
    keys: Annotated[int, Field(ge=0)]
