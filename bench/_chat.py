"""One streamed chat answer through the gateway with the official openai client, timed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StreamedAnswer", "stream_chat"]


@dataclass
class StreamedAnswer:
    """The answer text, the ``rag_fed`` extras of the last chunk, time to first content and total."""

    text: str
    extras: dict[str, Any] = field(default_factory=dict)
    first_s: float = 0.0
    total_s: float = 0.0


def stream_chat(client: Any, question: str, options: dict[str, Any] | None = None) -> StreamedAnswer:
    """Ask ``question`` with ``options`` as ``rag_fed`` extras; ``client`` is an ``openai.OpenAI``."""
    started = time.perf_counter()
    first: float | None = None
    text, extras = "", {}
    stream = client.chat.completions.create(
        model="rag-fed",
        messages=[{"role": "user", "content": question}],
        stream=True,
        extra_body={"rag_fed": options or {}},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first if first is not None else time.perf_counter() - started
            text += chunk.choices[0].delta.content
        found = (chunk.model_extra or {}).get("rag_fed")
        if isinstance(found, dict):
            extras = found
    total = time.perf_counter() - started
    return StreamedAnswer(text, extras, first if first is not None else total, total)
