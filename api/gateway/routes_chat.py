"""OpenAI-compatible ``POST /v1/chat/completions`` (JSON or SSE stream) and ``GET /v1/models``.

The last user message is the question; earlier user and assistant turns are context for the central
model (client system prompts are not passed on: the gateway's own prompt sets the citation rules).
Retrieval runs before the response starts, so a bad request still gets its HTTP status; the fused
answer then streams as ``data: {chat.completion.chunk}`` events, the last one carrying
``finish_reason`` and the ``rag_fed`` extras, then ``data: [DONE]``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence

from fastapi import APIRouter
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from fastapi.sse import EventSourceResponse, format_sse_event

from api.errors import BUSY_RESPONSE, ErrorBody
from api.gateway.admission import AnswerSlot
from api.gateway.deps import AnyCaller, Asker, Service
from api.gateway.keystore import Caller
from api.gateway.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessageIn,
    Choice,
    ChunkChoice,
    Delta,
    ModelCard,
    ModelList,
    RagFedExtra,
    ReplyMessage,
    SiteBrief,
    SupportBrief,
)
from api.gateway.service import GatewayService
from rag_fed.answers.compose import AnswerStream, ComposedAnswer
from rag_fed.answers.rewrite import standalone_question
from rag_fed.errors import InputError, NotFoundError, RagFedError
from rag_fed.generators.base import ChatMessage
from rag_fed.router import FederatedResult

__all__ = ["chat_router", "missing_sites_note", "split_conversation"]

chat_router = APIRouter(tags=["chat"])
_STARTED = int(time.time())


def split_conversation(messages: Sequence[ChatMessageIn]) -> tuple[str, list[ChatMessage], str]:
    """``(question, earlier turns, standalone question)`` from an OpenAI message list: the last user
    message, the user and assistant turns before it, and the question made standalone from the
    earlier user questions (what retrieval and the answer use)."""
    users = [index for index, message in enumerate(messages) if message.role == "user" and message.text.strip()]
    if not users:
        raise InputError("the conversation has no user message to answer")
    last = users[-1]
    question = messages[last].text.strip()
    history = [
        ChatMessage("user" if m.role == "user" else "assistant", m.text)
        for m in messages[:last]
        if m.role in ("user", "assistant") and m.text.strip()
    ]
    earlier = [messages[index].text.strip() for index in users[:-1]]
    return question, history, standalone_question(question, earlier)


def missing_sites_note(result: FederatedResult) -> str:
    """A closing line naming each site that was asked (or would have been, but for its open circuit)
    and did not answer, with its reason; it says "no site replied" when none did. ``""`` when all did."""

    def reason(status: str, error: str | None, limit: int = 200) -> str:
        label = {"timed_out": "timed out", "skipped": "not asked", "failed": "failed"}.get(status, status)
        detail = " ".join((error or "").split())
        detail = detail if len(detail) <= limit else detail[: limit - 1] + "…"
        return f"{label}: {detail}" if detail else label

    absent = [
        site
        for site in result.sites
        if site.status in ("failed", "timed_out")
        or (site.status == "skipped" and not (site.error or "").startswith("not selected"))
    ]
    if not absent:
        return ""
    reasons = "; ".join(f"{site.site_id} ({reason(site.status, site.error)})" for site in absent)
    answered = result.answered
    if not answered:
        return f"\n\n(No site replied: {reasons}. Nothing above comes from the sites' documents.)"
    return f"\n\n(No reply from {reasons}. This answer comes from {', '.join(answered)} only.)"


def _extra(result: FederatedResult, answer: ComposedAnswer | None, question: str) -> RagFedExtra:
    return RagFedExtra(
        citations=answer.citations if answer is not None else [],
        sites=[
            SiteBrief(
                site_id=site.site_id,
                status=site.status,
                latency_ms=round(site.latency_ms, 1),
                bytes=site.bytes_total,
                error=site.error,
            )
            for site in result.sites
        ],
        question=question,
        strategy=answer.strategy if answer is not None else "grounded",
        refused=answer.refused if answer is not None else False,
        refusal=answer.refusal if answer is not None else None,
        evidence=answer.evidence if answer is not None else [],
        more=answer.more if answer is not None else [],
        not_found=answer.not_found if answer is not None else [],
        support=[
            SupportBrief(sentence=v.sentence, supported=v.supported, unsupported=v.unsupported)
            for v in (answer.support if answer is not None else [])
        ],
    )


@chat_router.get("/v1/models")
async def list_models(caller: AnyCaller, service: Service) -> ModelList:
    return ModelList(data=[ModelCard(id=service.settings.model_id, created=_STARTED)])


@chat_router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {"content": {"text/event-stream": {"description": "chat.completion.chunk events"}}},
        429: {**BUSY_RESPONSE, "model": ErrorBody},
    },
)
async def chat_completions(
    body: ChatCompletionRequest, caller: Asker, service: Service
) -> ChatCompletion | EventSourceResponse:
    """Answer the last user message from the federation's evidence, citing ``[site:doc#section]``."""
    if body.model != service.settings.model_id:
        raise NotFoundError(f"unknown model {body.model!r}; this gateway serves {service.settings.model_id!r}")
    question, history, standalone = split_conversation(body.messages)
    slot = service.admission.admit(caller.key_id)  # GatewayBusyError (429) beyond the caller's share
    try:
        response = await _answer(body, caller, service, slot, question, history, standalone)
    except BaseException:
        slot.release()
        raise
    if not body.stream:
        slot.release()  # a stream's events release it when they end
    return response


async def _answer(
    body: ChatCompletionRequest,
    caller: Caller,
    service: GatewayService,
    slot: AnswerSlot,
    question: str,
    history: list[ChatMessage],
    standalone: str,
) -> ChatCompletion | EventSourceResponse:
    options = body.rag_fed
    phrase = service.settings.site_answers if options.site_answers is None else options.site_answers
    result = await service.retrieve(
        standalone, k=options.k, mode=options.mode, sites=options.sites, want_answer=True, phrase=phrase
    )
    await run_in_threadpool(
        service.keystore.audit,
        caller,
        "/v1/chat/completions",
        "ok",
        question=question,
        store_text=service.settings.audit_questions == "text",
        sites=[site.site_id for site in result.sites if site.status != "skipped"],
    )
    max_tokens = body.max_completion_tokens or body.max_tokens
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    stream = await service.answers.stream(standalone, result, history, strategy=options.strategy, max_tokens=max_tokens)
    if body.stream:
        events = _events(stream, result, completion_id, created, body.model, standalone, slot)
        return EventSourceResponse(events, headers={"Cache-Control": "no-cache"})
    answer = await run_in_threadpool(stream.collect)
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=body.model,
        choices=[Choice(message=ReplyMessage(content=answer.text + missing_sites_note(result)))],
        rag_fed=_extra(result, answer, standalone),
    )


async def _events(
    stream: AnswerStream,
    result: FederatedResult,
    completion_id: str,
    created: int,
    model: str,
    question: str,
    slot: AnswerSlot,
) -> AsyncIterator[bytes]:
    """The answer's events; ``slot`` is released when they end (or the client leaves)."""
    with slot:
        async for item in _chunks(stream, result, completion_id, created, model, question):
            yield item


async def _chunks(
    stream: AnswerStream, result: FederatedResult, completion_id: str, created: int, model: str, question: str
) -> AsyncIterator[bytes]:
    def event(delta: Delta, finish: bool = False, extra: RagFedExtra | None = None) -> bytes:
        chunk = ChatCompletionChunk(
            id=completion_id,
            created=created,
            model=model,
            choices=[ChunkChoice(delta=delta, finish_reason="stop" if finish else None)],
            rag_fed=extra,
        )
        return format_sse_event(data_str=chunk.model_dump_json(exclude_none=True))

    yield event(Delta(role="assistant", content=""))
    try:
        async for text in iterate_in_threadpool(iter(stream)):
            yield event(Delta(content=text))
    except RagFedError as error:
        # Headers are sent: an error can only travel in the stream (the openai client raises on it).
        body = {"error": {"type": type(error).__name__, "message": str(error)}}
        yield format_sse_event(data_str=json.dumps(body))
        return
    note = missing_sites_note(result)
    if note:
        yield event(Delta(content=note))
    yield event(Delta(), finish=True, extra=_extra(result, stream.result, question))
    yield format_sse_event(data_str="[DONE]")
