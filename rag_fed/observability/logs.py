"""Process logging: text for people, or one JSON object per line for a log pipeline (``log_format``).

Every line names the request it was written for (``request_id``) when there is one. What is logged is
messages and ids, never payloads: questions, passages and evidence are not put in log messages by the
code, and anything shaped like an API key (``rfk_<id>_<secret>``) is masked to its id before a line is
written, whichever code wrote it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Literal

from rag_fed.observability.context import current_request_id

__all__ = ["JsonLinesFormatter", "LogFormat", "RedactingFilter", "configure_logging", "redact_secrets"]

LogFormat = Literal["text", "json"]

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# An API key's secret part (api/apikeys.py: rfk_<12 hex>_<43 url-safe base64>); the key id may be logged.
_API_KEY = re.compile(r"\b(rfk_[0-9a-f]{12}_)[A-Za-z0-9_-]{20,}")


def redact_secrets(text: str) -> str:
    """``text`` with the secret part of every API key replaced by ``***``."""
    return _API_KEY.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    """Masks secrets in the formatted message and records the request id (``record.request_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact_secrets(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``request_id`` (when serving one) and ``exception`` (its type and traceback, when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_secrets(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = redact_secrets(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [request {request_id}]" if request_id else line


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Log to stderr at ``level`` in ``log_format``, replacing any handler set before (called again
    once a service has read its settings, which name the format). JSON also turns progress bars off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonLinesFormatter() if log_format == "json" else _TextFormatter(_TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # httpx logs one INFO line per request: one per site per question at the gateway, which at many sites
    # buries everything else; the gateway's own line per question and /metrics say how each site fared.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    if log_format == "json":
        _no_progress_bars()


def _no_progress_bars() -> None:
    """Progress bars (model loading's tqdm) are not log lines: on stderr they would break every line of
    a JSON log pipeline. The environment covers libraries not imported yet; the calls, those that are."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TQDM_DISABLE"] = "1"
    hub = sys.modules.get("huggingface_hub.utils")
    if hub is not None:
        hub.disable_progress_bars()
    transformers_logging = sys.modules.get("transformers.utils.logging")
    if transformers_logging is not None:
        transformers_logging.disable_progress_bar()
