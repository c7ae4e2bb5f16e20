"""Engineers' judgements on a site's passages, kept at that site: the log, the sealed message that brings
one from the gateway, and the import of an existing search or CMMS log."""

from rag_fed.feedback.log import FEEDBACK_FILE, FeedbackLog, FeedbackStats, Judgement, NewJudgement

__all__ = ["FEEDBACK_FILE", "FeedbackLog", "FeedbackStats", "Judgement", "NewJudgement"]
