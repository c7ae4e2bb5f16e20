"""Request context and log formats: the id follows the request, JSON lines parse, keys are masked."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from rag_fed.observability import current_request_id, redact_secrets, request_context
from rag_fed.observability.logs import JsonLinesFormatter, RedactingFilter

pytestmark = pytest.mark.unit

KEY = "rfk_0123456789ab_" + "S" * 43


def _logged(formatter: logging.Formatter, message: str, *args: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_the_request_id_follows_tasks_and_ends_with_the_block() -> None:
    async def inside() -> str | None:
        return current_request_id()

    async def main() -> str | None:
        with request_context("abc123"):
            return await asyncio.create_task(inside())

    assert asyncio.run(main()) == "abc123"
    assert current_request_id() is None


def test_json_lines_carry_the_request_id_and_mask_api_keys() -> None:
    with request_context("req-1"):
        line = _logged(JsonLinesFormatter(), "caller used %s", KEY)
    record = json.loads(line)
    assert record["request_id"] == "req-1" and record["level"] == "WARNING"
    assert record["message"] == "caller used rfk_0123456789ab_***"
    assert "S" * 20 not in line


def test_text_lines_mask_api_keys_too() -> None:
    line = _logged(logging.Formatter("%(message)s"), "key %s rejected", KEY)
    assert line.strip() == "key rfk_0123456789ab_*** rejected"
    assert redact_secrets("no key here") == "no key here"
