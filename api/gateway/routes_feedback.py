"""``POST /v1/feedback``: an engineer says whether an answer, or one of its citations, was useful.

A judgement on a citation, with the question it answered, is forwarded sealed to the site that owns the
passage, which keeps it in its feedback log for federated fine-tuning (docs/training.md). The gateway
keeps one audit line that feedback was given (who, when, which site) and nothing else: not the
question, the judgement or the comment. A judgement on the answer as a whole is counted and audited
only: no one site owns it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError, field_validator

from api.gateway.deps import Service, require_roles
from api.gateway.feedback_forwarding import Forwarded
from api.gateway.keystore import Caller, Role
from rag_fed.errors import InputError, RagFedError
from rag_fed.feedback.log import MAX_QUESTION_CHARS
from rag_fed.feedback.messages import SiteFeedback

__all__ = ["Feedback", "FeedbackReceipt", "feedback_router"]

feedback_router = APIRouter(tags=["chat"])

# A citation's label as answers print it: ``[site:document#section]``; a section may hold spaces.
_CITATION_LABEL = re.compile(r"\[([a-z0-9][a-z0-9-]{0,62}):([^\[\]\n]+)\]")

Engineer = Annotated[Caller, Depends(require_roles(Role.ENGINEER))]


class Feedback(BaseModel):
    """One judgement: ``target`` is ``"answer"`` or a citation's ``[site:document#section]`` label."""

    conversation_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    target: str = Field(min_length=1, max_length=600, description='"answer" or a citation label')
    useful: bool
    question: str | None = Field(
        default=None,
        max_length=MAX_QUESTION_CHARS,
        description="The question the judged answer was for; without it the owning site cannot learn from it.",
    )
    comment: str | None = Field(default=None, max_length=2000)

    @field_validator("target")
    @classmethod
    def _answer_or_citation(cls, target: str) -> str:
        if target != "answer" and not _CITATION_LABEL.fullmatch(target):
            raise ValueError('target must be "answer" or a citation label such as [plant-north:manuals/pump.md#3]')
        return target

    @property
    def site_id(self) -> str | None:
        """The site whose source the judgement is about (``None`` for the answer as a whole)."""
        cited = self.cited
        return cited[0] if cited else None

    @property
    def cited(self) -> tuple[str, str, str] | None:
        """(site, document, anchor) of a citation's label; ``None`` for the answer as a whole."""
        match = _CITATION_LABEL.fullmatch(self.target)
        if match is None:
            return None
        doc_id, _, anchor = match.group(2).partition("#")
        return match.group(1), doc_id, anchor.strip()


class FeedbackReceipt(BaseModel):
    recorded: Literal[True] = True
    forwarded: bool = Field(default=False, description="Whether the owning site now holds the judgement.")
    site_id: str | None = Field(default=None, description="The site the judgement is about.")
    reason: str | None = Field(default=None, description="Why it was not forwarded, when it was not.")


@feedback_router.post("/v1/feedback", status_code=202)
async def give_feedback(body: Feedback, caller: Engineer, service: Service) -> FeedbackReceipt:
    """Record that an answer or a citation was (not) useful; a citation's judgement goes to its site.
    404 for a citation of a site or document the federation does not have."""
    site_id = body.site_id
    service.metrics.feedback(on_citation=site_id is not None, useful=body.useful)
    sites = [site_id] if site_id else []
    try:
        outcome = await run_in_threadpool(_forward, body, service)
    except RagFedError as error:
        await run_in_threadpool(service.keystore.audit, caller, "/v1/feedback", type(error).__name__, sites=sites)
        raise
    await run_in_threadpool(service.keystore.audit, caller, "/v1/feedback", "ok", sites=sites)
    return FeedbackReceipt(forwarded=outcome.delivered, site_id=site_id, reason=outcome.reason)


def _forward(body: Feedback, service: Service) -> Forwarded:
    cited = body.cited
    if cited is None:
        reason = "a judgement of the whole answer is counted at the gateway; judge its sources to teach the sites"
        return Forwarded(False, reason=reason)
    question = " ".join((body.question or "").split())
    if not question:
        return Forwarded(False, reason="no question was sent with it, so the site cannot learn from it")
    site_id, doc_id, anchor = cited
    if not doc_id.strip():
        raise InputError(f"{body.target}: the citation names no document")
    try:
        message = SiteFeedback(
            site_id=site_id,
            question=question,
            doc_id=doc_id,
            anchor=anchor,
            useful=body.useful,
            comment=body.comment,
            conversation_id=body.conversation_id,
        )
    except ValidationError as error:
        raise InputError(f"{body.target}: {error.errors()[0]['msg']}") from None
    return service.feedback.forward(message)
