"""A LangChain retriever over a rag-fed federation: the gateway's ``POST /v1/query``, retrieval only.

The federation stays behind its gateway: this module only speaks HTTP to it with an API key, as the
openai client does for chat, so a LangChain app gets fused, cited passages from every site without
holding any site key. It is the only module of rag_fed that imports langchain-core.

    retriever = RagFedRetriever(base_url="http://127.0.0.1:8000/v1", api_key="rfk_...", k=5)
    docs = retriever.invoke("How do I replace the seal of pump SP-40?")
    docs[0].metadata["citation"]  # "[north:north-pump-manual.md#Mechanical seal replacement]"
"""

from __future__ import annotations

import json
import logging

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from rag_fed.errors import (
    AuthError,
    ConfigError,
    ForbiddenError,
    InputError,
    NotFoundError,
    RagFedError,
    SiteUnavailableError,
)
from rag_fed.types import Passage, SearchMode, SiteStatus

try:
    from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as error:  # pragma: no cover - langchain-core is installed with rag-fed today
    raise ConfigError("the LangChain retriever needs langchain-core: pip install langchain-core") from error

__all__ = [
    "GatewayError",
    "GatewayTimeoutError",
    "GatewayUnavailableError",
    "RagFedRetriever",
    "passage_to_document",
]

_log = logging.getLogger(__name__)


class GatewayError(RagFedError):
    """The gateway failed (HTTP 5xx) or answered with something that is not a query response."""


class GatewayUnavailableError(GatewayError):
    """The gateway could not be reached (connection refused, DNS, TLS)."""


class GatewayTimeoutError(GatewayUnavailableError):
    """The gateway did not answer within the retriever's timeout."""


class _SiteBrief(BaseModel):
    model_config = ConfigDict(extra="ignore")

    site_id: str
    status: SiteStatus
    error: str | None = None


class _QueryReply(BaseModel):
    """The part of the gateway's ``QueryResponse`` the retriever needs (the rest is ignored)."""

    model_config = ConfigDict(extra="ignore")

    request_id: str
    passages: list[Passage]
    sites: list[_SiteBrief] = Field(default_factory=list)


def passage_to_document(passage: Passage, request_id: str = "") -> Document:
    """A fused passage as a LangChain ``Document``: its text, and metadata enough to cite and open it."""
    citation = passage.citation
    return Document(
        id=f"{citation.site_id}:{passage.chunk_id}",
        page_content=passage.text,
        metadata={
            "site": citation.site_id,
            "document": citation.doc_id,
            "title": citation.title,
            "section": citation.section,
            "page": citation.page,
            "anchor": citation.anchor,
            "citation": citation.label,
            "score": passage.score,
            "rank": passage.rank,
            "chunk_id": passage.chunk_id,
            "request_id": request_id,
        },
    )


class RagFedRetriever(BaseRetriever):
    """Retrieves fused, cited passages from a rag-fed gateway (``want_answer=false``: no model runs).

    ``base_url`` is the gateway's address, with or without the ``/v1`` suffix (the value given to the
    openai client works). ``k``, ``mode`` and ``sites`` default to the gateway's settings. Pass
    ``http_client`` / ``async_http_client`` to share connection pools; otherwise one client per call.
    Sites that failed are logged; if every site asked failed, ``SiteUnavailableError`` is raised rather
    than returning nothing as if the federation knew nothing.
    """

    base_url: str
    api_key: SecretStr
    k: int | None = Field(default=None, ge=1, le=100)
    mode: SearchMode | None = None
    sites: list[str] | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    http_client: httpx.Client | None = Field(default=None, exclude=True)
    async_http_client: httpx.AsyncClient | None = Field(default=None, exclude=True)

    @property
    def query_url(self) -> str:
        base = self.base_url.rstrip("/")
        return f"{base}/query" if base.endswith("/v1") else f"{base}/v1/query"

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        url, headers, body = self._request(query)
        try:
            if self.http_client is not None:
                response = self.http_client.post(url, headers=headers, json=body, timeout=self.timeout_s)
            else:
                with httpx.Client(timeout=self.timeout_s) as client:
                    response = client.post(url, headers=headers, json=body)
        except httpx.HTTPError as error:
            raise self._transport_error(error) from None
        return self._documents(response)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        url, headers, body = self._request(query)
        try:
            if self.async_http_client is not None:
                response = await self.async_http_client.post(url, headers=headers, json=body, timeout=self.timeout_s)
            else:
                async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                    response = await client.post(url, headers=headers, json=body)
        except httpx.HTTPError as error:
            raise self._transport_error(error) from None
        return self._documents(response)

    # The sync and async paths differ only in the HTTP call; building the request and reading the
    # response are shared here.

    def _request(self, query: str) -> tuple[str, dict[str, str], dict[str, object]]:
        body: dict[str, object] = {"question": query, "want_answer": False}
        if self.k is not None:
            body["k"] = self.k
        if self.mode is not None:
            body["mode"] = self.mode
        if self.sites is not None:
            body["sites"] = list(self.sites)
        headers = {"Authorization": f"Bearer {self.api_key.get_secret_value()}", "Accept": "application/json"}
        return self.query_url, headers, body

    def _transport_error(self, error: httpx.HTTPError) -> GatewayError:
        if isinstance(error, httpx.TimeoutException):
            return GatewayTimeoutError(
                f"the gateway at {self.query_url} did not answer within {self.timeout_s:.1f} s; "
                "raise the retriever's timeout_s, or check the gateway's routing.deadline_s and load"
            )
        return GatewayUnavailableError(
            f"cannot reach the gateway at {self.query_url} ({type(error).__name__}: {error}); "
            "check base_url and that the gateway is running"
        )

    def _documents(self, response: httpx.Response) -> list[Document]:
        if response.status_code != 200:
            raise _status_error(response, self.query_url)
        try:
            reply = _QueryReply.model_validate_json(response.content)
        except ValidationError as error:
            raise GatewayError(
                f"the answer of {self.query_url} is not a rag-fed query response ({error.error_count()} problems, "
                f"first: {error.errors()[0]['msg']}); is base_url a rag-fed gateway?"
            ) from None
        missing = [site for site in reply.sites if site.status in ("failed", "timed_out")]
        answered = [site for site in reply.sites if site.status == "answered"]
        if missing and not answered:
            reasons = "; ".join(f"{s.site_id}: {s.status} ({s.error or 'no reason given'})" for s in missing)
            raise SiteUnavailableError(f"no site answered request {reply.request_id}: {reasons}")
        if missing:
            _log.warning(
                "request %s: sites %s did not answer; results come from %s",
                reply.request_id,
                [site.site_id for site in missing],
                [site.site_id for site in answered],
            )
        return [passage_to_document(passage, reply.request_id) for passage in reply.passages]


def _status_error(response: httpx.Response, url: str) -> RagFedError:
    """The gateway's ``{"error": {"type", "message"}}`` body as the matching rag-fed error."""
    status = response.status_code
    message = _error_message(response)
    if status == 401:
        return AuthError(
            f"the gateway refused the API key ({message}); pass a valid key as api_key "
            "(an operator makes one with `ragfed keys create`)"
        )
    if status == 403:
        return ForbiddenError(f"the API key may not query the federation ({message}); use an engineer or evaluator key")
    if status == 404:
        return NotFoundError(f"{url} answered 404 ({message}); check base_url (the gateway's address, e.g. .../v1)")
    if 400 <= status < 500:
        return InputError(f"the gateway rejected the query with HTTP {status}: {message}")
    return GatewayError(f"the gateway failed with HTTP {status}: {message}; its log has the details")


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['type']}: {error['message']}" if error.get("type") else str(error["message"])
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return response.text[:300] or response.reason_phrase
