"""``POST /v1/feedback``: an engineer says whether an answer, or one of its citations, was useful.

For now the gateway writes one audit line that feedback was given (who, when, which site's source) and
keeps nothing else: not the judgement's text, not the comment. Issue 15 forwards each judgement, sealed,
to the site that owns the cited passage, where it is kept and used for federated fine-tuning; until then
``forwarded`` is false in the receipt.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator

from api.gateway.deps import Service, require_roles
from api.gateway.keystore import Caller, Role

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
        match = _CITATION_LABEL.fullmatch(self.target)
        return match.group(1) if match else None


class FeedbackReceipt(BaseModel):
    recorded: Literal[True] = True
    forwarded: bool = Field(default=False, description="Sent on to the owning site (not yet: issue 15).")


@feedback_router.post("/v1/feedback", status_code=202)
async def give_feedback(body: Feedback, caller: Engineer, service: Service) -> FeedbackReceipt:
    """Record that an answer or a citation was (not) useful; only an audit line is kept for now."""
    sites = [body.site_id] if body.site_id else []
    service.metrics.feedback(on_citation=body.site_id is not None, useful=body.useful)
    await run_in_threadpool(service.keystore.audit, caller, "/v1/feedback", "ok", sites=sites)
    return FeedbackReceipt()
