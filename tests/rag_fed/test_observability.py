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


def test_spans_nest_and_cost_nothing_while_tracing_is_off() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from rag_fed.observability import TracingSettings, configure_tracing, record_span, shutdown_tracing, span

    with span("ignored"):  # off: no provider, nothing recorded anywhere
        record_span("ignored too", 0)
    exporter = InMemorySpanExporter()
    configure_tracing(TracingSettings(), "test", exporter=exporter)
    try:
        with span("outer", **{"ragfed.request_id": "r1"}):
            with span("inner"):
                pass
            record_span("done", 1_000, 2_000, site="north")
    finally:
        shutdown_tracing()  # flushes
    spans = {finished.name: finished for finished in exporter.get_finished_spans()}
    assert set(spans) == {"outer", "inner", "done"}
    outer = spans["outer"]
    assert outer.attributes is not None and outer.attributes["ragfed.request_id"] == "r1"
    for child in ("inner", "done"):
        parent = spans[child].parent
        assert parent is not None and outer.context is not None and parent.span_id == outer.context.span_id
    assert spans["done"].start_time == 1_000 and spans["done"].end_time == 2_000
    with span("after shutdown"):
        pass
    assert "after shutdown" not in {finished.name for finished in exporter.get_finished_spans()}
