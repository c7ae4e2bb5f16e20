"""Request and response bodies of the gateway: the OpenAI chat subset it speaks, and its native query."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag_fed.answers.compose import ComposedAnswer
from rag_fed.answers.ranking import RefusalReason
from rag_fed.config import AnswerStrategy
from rag_fed.protocol import MAX_QUESTION_CHARS
from rag_fed.router import SiteOutcome
from rag_fed.types import Citation, Evidence, Passage, SearchMode, SiteAnswer, SiteStatus

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
    "SupportBrief",
    "TextPart",
]

_MAX_MESSAGES = 200
_MAX_SITES = 1000
_MAX_TOKENS = 8192  # a bound on what a client may ask for; the central model stops at its context anyway
_SiteId = Annotated[str, Field(max_length=200)]


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"] = "text"
    text: str = Field(max_length=MAX_QUESTION_CHARS)


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    @field_validator("content")
    @classmethod
    def _not_too_long(cls, content: str | list[TextPart] | None) -> str | list[TextPart] | None:
        # The sites get the question as it is (protocol limit), and every turn goes into the central prompt.
        size = len(content) if isinstance(content, str) else sum(len(part.text) for part in content or [])
        if size > MAX_QUESTION_CHARS:
            raise ValueError(f"a message may hold at most {MAX_QUESTION_CHARS} characters, this one has {size}")
        return content

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
    sites: list[_SiteId] | None = Field(default=None, max_length=_MAX_SITES)
    strategy: AnswerStrategy | None = Field(
        default=None,
        description="extractive (evidence only, no model) | grounded (a short checked lead over the evidence) | "
        "generative (the model writes freely over the evidence, still cited and checked); default: the gateway's.",
    )
    site_answers: bool | None = Field(
        default=None,
        description="True: each site's local model also phrases a checked answer over its evidence (slower); "
        "default: the gateway's site_answers setting.",
    )


class ChatCompletionRequest(BaseModel):
    """The fields of OpenAI's request that matter here; other fields (top_p, user, ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(max_length=200)
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=_MAX_MESSAGES)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=_MAX_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=_MAX_TOKENS)
    n: int = Field(default=1, ge=1, le=1, description="Only one choice is produced.")
    rag_fed: RagFedOptions = RagFedOptions()


class SiteBrief(BaseModel):
    site_id: str
    status: SiteStatus
    latency_ms: float
    bytes: int
    error: str | None = None


class SupportBrief(BaseModel):
    """The check of one sentence a model wrote: kept (supported) or dropped, and why."""

    sentence: str
    supported: bool
    unsupported: list[str] = Field(default_factory=list)


class RagFedExtra(BaseModel):
    """What the gateway adds to an OpenAI response: what the answer cites and rests on, what else was
    found, the question as retrieved (follow-ups made standalone) and how each site fared."""

    citations: list[Citation] = Field(description="The sources the answer uses, in order.")
    sites: list[SiteBrief]
    question: str = Field(default="", description="The standalone question retrieval used.")
    strategy: AnswerStrategy = "grounded"
    refused: bool = Field(default=False, description="The documents of the sites asked do not cover the question.")
    refusal: RefusalReason | Literal["no reply"] | None = Field(
        default=None,
        description="Why the answer was declined (the composer's rule, or no site replied); null when answered.",
    )
    evidence: list[Evidence] = Field(default_factory=list, description="The evidence the answer quotes.")
    more: list[Citation] = Field(default_factory=list, description="Further sources found but not used.")
    not_found: list[str] = Field(
        default_factory=list, description="Codes of the question (compact form) that no evidence shown mentions."
    )
    support: list[SupportBrief] = Field(default_factory=list)


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

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int | None = Field(default=None, ge=1, le=100)
    mode: SearchMode | None = None
    sites: list[_SiteId] | None = Field(default=None, max_length=_MAX_SITES)
    want_answer: bool = True
    strategy: AnswerStrategy | None = Field(default=None, description="As rag_fed.strategy in chat.")
    site_answers: bool | None = Field(
        default=None,
        description="With want_answer: each site's local model also phrases a checked answer (slower); "
        "default: the gateway's site_answers setting.",
    )


class QueryResponse(BaseModel):
    request_id: str
    answer: ComposedAnswer | None
    passages: list[Passage]
    site_answers: list[SiteAnswer]
    evidence: list[Evidence] = Field(default_factory=list, description="Every answering site's evidence.")
    sites: list[SiteOutcome]
    bytes_total: int
    elapsed_ms: float
    embedder_version: str = Field(
        description="The version the question was embedded with first; each site's own is in `sites`."
    )
    term_stats: str | None = Field(
        default=None,
        description="Keyword and hybrid modes: `global` when every answering site scored BM25 with the "
        "federation's term statistics (scores as one central index's), `mixed`, or `own`; each site's in `sites`.",
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
