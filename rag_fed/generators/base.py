"""The ``Generator`` contract: chat messages in, text out (whole or streamed)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["ChatMessage", "Generator", "Role", "StreamingGenerator"]

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@runtime_checkable
class Generator(Protocol):
    """A chat model. ``name`` identifies the model for logs and reports."""

    @property
    def name(self) -> str: ...

    def generate(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> str: ...

    def stream(
        self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0
    ) -> Iterator[str]: ...


class StreamingGenerator:
    """Base for backends: implement ``stream`` (the one primitive); ``generate`` joins it."""

    name: str = "generator"

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        raise NotImplementedError

    def generate(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature))
