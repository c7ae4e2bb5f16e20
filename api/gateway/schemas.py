"""Request and response bodies of the gateway: the OpenAI chat subset it speaks, and its native query."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rag_fed.answer_fusion import FusedAnswer
from rag_fed.router import SiteOutcome
from rag_fed.types import Citation, Passage, SearchMode, SiteAnswer, SiteStatus

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatMessageIn",
    "Choice",
    "ChunkChoice",
    "Delta",
    "ModelCard",
    "ModelList",
    "QueryRequest",
    "QueryResponse",
    "RagFedExtra",
    "RagFedOptions",
    "ReplyMessage",
    "SiteBrief",
    "SiteView",
    "TextPart",
]


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"] = "text"
    text: str


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class RagFedOptions(BaseModel):
    """Optional retrieval settings (``extra_body={"rag_fed": {...}}`` in the openai client)."""

    k: int | None = Field(default=None, ge=1, le=100)
    mode: SearchMode | None = None
    sites: list[str] | None = None
    site_answers: bool | None = Field(
        default=None,
        description="False: the central model answers from the sites' passages, without site answers "
        "(fast); default: the gateway's site_answers setting.",
    )


class ChatCompletionRequest(BaseModel):
    """The fields of OpenAI's request that matter here; other fields (top_p, user, ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1, le=1, description="Only one choice is produced.")
    rag_fed: RagFedOptions = RagFedOptions()


class SiteBrief(BaseModel):
    site_id: str
    status: SiteStatus
    latency_ms: float
    bytes: int
    error: str | None = None


class RagFedExtra(BaseModel):
    """What the gateway adds to an OpenAI response: the citations and how each site fared."""

    citations: list[Citation]
    sites: list[SiteBrief]
    fallback: bool = False


class ReplyMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ReplyMessage
    finish_reason: Literal["stop", "length"] = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    rag_fed: RagFedExtra


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    rag_fed: RagFedExtra | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "rag-fed"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class QueryRequest(BaseModel):
    """A native question: retrieval settings, and whether the sites and the gateway should answer."""

    question: str = Field(min_length=1, max_length=8000)
    k: int | None = Field(default=None, ge=1, le=100)
    mode: SearchMode | None = None
    sites: list[str] | None = None
    want_answer: bool = True
    site_answers: bool | None = Field(
        default=None,
        description="With want_answer: false answers from the passages without site answers (fast); "
        "default: the gateway's site_answers setting.",
    )


class QueryResponse(BaseModel):
    request_id: str
    answer: FusedAnswer | None
    passages: list[Passage]
    site_answers: list[SiteAnswer]
    sites: list[SiteOutcome]
    bytes_total: int
    elapsed_ms: float
    embedder_version: str = Field(
        description="The version the question was embedded with first; each site's own is in `sites`."
    )


class SiteView(BaseModel):
    """A registered site as an operator sees it at the gateway."""

    site_id: str
    url: str
    fingerprint: str
    healthy: bool
    circuit: str
    consecutive_failures: int
    sketch_chunks: int | None = None
    sketch_centroids: int | None = None
    serving_version: str | None = Field(default=None, description="The embedder version the site serves.")
