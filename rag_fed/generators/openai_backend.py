"""A ``Generator`` that calls any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from rag_fed.errors import ModelError
from rag_fed.generators.base import ChatMessage, StreamingGenerator
from rag_fed.generators.context import fit_to_context, reply_budget

if TYPE_CHECKING:
    from openai import OpenAI

__all__ = ["OpenAICompatibleGenerator"]

# The remote tokenizer is unknown, so prompt size is estimated from UTF-8 bytes. English runs about 4
# bytes a token; 3 leaves room for part numbers and codes, which tokenise far worse. If the server still
# rejects the prompt as too long, one retry uses the pessimistic 1.5 (digit-by-digit tokenisers).
_BYTES_PER_TOKEN = (3.0, 1.5)
_TOKENS_PER_MESSAGE = 8
# Phrases OpenAI, vLLM, llama.cpp and Ollama use when a prompt overflows the model's context.
_OVERFLOW_HINTS = ("context length", "context window", "maximum context", "too long", "exceed")


class OpenAICompatibleGenerator(StreamingGenerator):
    """Streams chat completions from ``base_url`` (e.g. ``http://127.0.0.1:8080/v1``).

    ``context_tokens`` is the served model's window: a longer chat is cut (oldest turns first) before it
    is sent, from an estimate of its size, because servers reject an overflowing prompt. Every failure
    (refused connection, timeout, HTTP error) becomes a ``ModelError`` naming the URL, so the caller can
    report which endpoint is down instead of a bare traceback.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str = "not-needed",
        model_name: str = "default",
        timeout_s: float = 60.0,
        context_tokens: int = 2048,
        max_retries: int = 1,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ModelError(f"base_url must start with http:// or https://, got {base_url!r}")
        self._base_url = base_url
        self._model_name = model_name
        self._context_tokens = context_tokens
        self._client = _make_client(base_url, api_key, timeout_s, max_retries)
        self.name = f"openai:{model_name}@{base_url}"

    @property
    def base_url(self) -> str:
        return self._base_url

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        import openai

        reply_tokens = reply_budget(self._context_tokens, max_tokens)
        for attempt, bytes_per_token in enumerate(_BYTES_PER_TOKEN):

            def estimate(chat: Sequence[ChatMessage], ratio: float = bytes_per_token) -> int:
                return sum(int(len(m.content.encode()) / ratio) + _TOKENS_PER_MESSAGE for m in chat)

            fitted = fit_to_context(messages, estimate, self._context_tokens - reply_tokens)
            yielded = False
            try:
                for piece in self._stream_once(fitted, reply_tokens, temperature):
                    yielded = True
                    yield piece
                return
            except openai.APIStatusError as error:
                overflow = error.status_code == 400 and any(hint in error.message.lower() for hint in _OVERFLOW_HINTS)
                if overflow and not yielded and attempt + 1 < len(_BYTES_PER_TOKEN):
                    continue
                raise ModelError(
                    f"the chat endpoint {self._base_url} answered HTTP {error.status_code}: {error.message}"
                ) from error
            except openai.APITimeoutError as error:
                raise ModelError(f"the chat endpoint {self._base_url} timed out: {error}") from error
            except openai.APIConnectionError as error:
                raise ModelError(f"cannot reach the chat endpoint {self._base_url}: {error}") from error
            except openai.OpenAIError as error:
                raise ModelError(f"the chat endpoint {self._base_url} failed: {error}") from error

    def _stream_once(self, messages: Sequence[ChatMessage], max_tokens: int, temperature: float) -> Iterator[str]:
        payload = [{"role": m.role, "content": m.content} for m in messages]
        chunks = self._client.chat.completions.create(
            model=self._model_name,
            messages=cast(Any, payload),
            # max_tokens, not max_completion_tokens: llama.cpp's and older vLLM/Ollama servers only read
            # the former, and OpenAI itself still accepts it for chat models.
            max_tokens=max_tokens,
            temperature=temperature,
            stream=True,
        )
        with chunks:
            for chunk in chunks:
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if piece:
                    yield piece


def _make_client(base_url: str, api_key: str, timeout_s: float, max_retries: int) -> OpenAI:
    try:
        from openai import OpenAI
    except ImportError as error:
        raise ModelError("the openai generator needs the openai client: pip install openai") from error
    return OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=max_retries)
