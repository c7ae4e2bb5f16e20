"""The site's side of forwarded feedback: check that the judged passage is this site's, then log it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from rag_fed.feedback.log import FeedbackLog, NewJudgement
from rag_fed.feedback.messages import SiteFeedback, SiteFeedbackAck

__all__ = ["FeedbackReceiver"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedbackReceiver:
    """``has_document`` says whether this site holds a document id; ``serving_version`` is the embedder
    version the site answers with now (the one the judged ranking came from)."""

    site_id: str
    log: FeedbackLog
    has_document: Callable[[str], bool]
    serving_version: Callable[[], str]

    def receive(self, message: SiteFeedback) -> SiteFeedbackAck:
        if message.site_id != self.site_id:
            reason = f"the passage is site {message.site_id!r}'s, not this site's ({self.site_id!r})"
            return self._refused(message, reason)
        if not self.has_document(message.doc_id):
            return self._refused(message, f"site {self.site_id!r} has no document {message.doc_id!r}")
        row, created = self.log.record(
            NewJudgement(
                request_id=message.request_id,
                question=message.question,
                doc_id=message.doc_id,
                anchor=message.anchor,
                useful=message.useful,
                embedder_version=self.serving_version(),
                comment=message.comment,
                conversation_id=message.conversation_id,
            )
        )
        _log.info("feedback %s recorded (useful: %s)", row.feedback_id, message.useful)
        return SiteFeedbackAck(
            request_id=message.request_id,
            site_id=self.site_id,
            status="recorded" if created else "duplicate",
            feedback_id=row.feedback_id,
        )

    def _refused(self, message: SiteFeedback, reason: str) -> SiteFeedbackAck:
        _log.warning("feedback refused: %s", reason)
        return SiteFeedbackAck(request_id=message.request_id, site_id=self.site_id, status="refused", reason=reason)
