"""The sealed messages that bring an engineer's judgement from the gateway to the site that owns the
passage (``SiteFeedback``), and the site's answer (``SiteFeedbackAck``). The gateway keeps none of it."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from rag_fed.crypto.ids import NODE_ID_PATTERN
from rag_fed.feedback.log import MAX_COMMENT_CHARS, MAX_QUESTION_CHARS
from rag_fed.wire.message import SealedMessage

__all__ = ["FEEDBACK_PATH", "SiteFeedback", "SiteFeedbackAck"]

FEEDBACK_PATH = "/v1/site/feedback"

_SiteId = Annotated[str, Field(pattern=NODE_ID_PATTERN)]
_RequestId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class SiteFeedback(SealedMessage):
    """For ``question``, the passage ``doc_id`` at ``anchor`` (a PDF page ``p12``, the innermost heading, or
    ``""``: the whole document) of site ``site_id`` was ``useful`` or not."""

    kind: Literal["feedback"] = "feedback"
    request_id: _RequestId = Field(default_factory=lambda: uuid.uuid4().hex)
    site_id: _SiteId
    question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)]
    doc_id: Annotated[str, Field(min_length=1, max_length=500)]
    anchor: Annotated[str, Field(max_length=500)] = ""
    useful: bool
    comment: Annotated[str, Field(max_length=MAX_COMMENT_CHARS)] | None = None
    conversation_id: Annotated[str, Field(max_length=100)] | None = None


class SiteFeedbackAck(SealedMessage):
    """``recorded`` (``feedback_id`` is the row at the site), ``duplicate`` (that request was recorded
    before) or ``refused`` (``reason`` says why: another site's passage, a document this site lacks)."""

    kind: Literal["feedback_ack"] = "feedback_ack"
    request_id: _RequestId
    site_id: _SiteId
    status: Literal["recorded", "duplicate", "refused"]
    feedback_id: int | None = None
    reason: Annotated[str, Field(max_length=500)] | None = None
