"""One sealed call from the coordinator to a site: seal a message to it, POST it, open the sealed answer
and check that it is the site's answer to this message. Used by model rollout (``MODEL_PATH``) and by
the admin-key push (``ADMIN_KEYS_PATH``); each maps the errors to its own result."""

from __future__ import annotations

import json
from typing import Protocol, Self, TypeVar

import httpx

from rag_fed.crypto import EnvelopeOpener, KeyPair, seal
from rag_fed.errors import InputError, SiteUnavailableError
from rag_fed.federation.registry import RegisteredSite

__all__ = ["SiteRefusedError", "call_site", "error_text"]


class SiteRefusedError(SiteUnavailableError):
    """The site answered, but not 200: the message is ``HTTP <status>: <its error>``."""


class _Request(Protocol):
    @property
    def request_id(self) -> str: ...

    def to_bytes(self) -> bytes: ...


class _Answer(Protocol):
    @property
    def site_id(self) -> str: ...

    @property
    def request_id(self) -> str: ...

    @classmethod
    def from_bytes(cls, data: bytes) -> Self: ...


AnswerT = TypeVar("AnswerT", bound=_Answer)


def call_site(
    http: httpx.Client,
    site: RegisteredSite,
    path: str,
    message: _Request,
    answer_type: type[AnswerT],
    *,
    keys: KeyPair,
    gateway_id: str,
    timeout_s: float,
    noun: str = "reply",
) -> AnswerT:
    """The site's sealed ``answer_type`` to ``message``. Raises ``httpx.HTTPError`` (not reached, timed
    out), :class:`SiteRefusedError` (not 200) or another ``RagFedError`` (an answer that does not open,
    parse, or name this site and request; the ``noun`` names it)."""
    sealed = seal(
        message.to_bytes(), sender=keys, sender_id=gateway_id, recipient_id=site.site_id, recipient_key=site.key
    ).to_bytes()
    response = http.post(
        f"{site.url}{path}", content=sealed, headers={"content-type": "application/json"}, timeout=timeout_s
    )
    if response.status_code != 200:
        raise SiteRefusedError(f"HTTP {response.status_code}: {error_text(response)}")
    opener = EnvelopeOpener(keys, gateway_id, {site.site_id: site.key})
    answer = answer_type.from_bytes(opener.open_bytes(response.content))
    if answer.site_id != site.site_id or answer.request_id != message.request_id:
        raise InputError(f"{noun} names site {answer.site_id!r} and request {answer.request_id!r}")
    return answer


def error_text(response: httpx.Response) -> str:
    """``type: message`` of an api/ error body, else the start of the body."""
    try:
        error = response.json()["error"]
        return f"{error['type']}: {error['message']}"
    except (json.JSONDecodeError, KeyError, TypeError):
        return response.text[:300] or response.reason_phrase
