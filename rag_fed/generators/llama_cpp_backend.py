"""A ``Generator`` running a local GGUF model in-process with llama-cpp-python."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rag_fed.errors import ModelError
from rag_fed.generators.base import ChatMessage, StreamingGenerator
from rag_fed.generators.context import fit_to_context, reply_budget

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["DEFAULT_SEED", "LlamaCppGenerator"]

DEFAULT_SEED = 1234

# Without a chat template in the GGUF we can only estimate what llama-cpp's fallback format adds around
# each message; this over-estimates the common formats (ChatML, Llama 2/3, Gemma) on purpose.
_TEMPLATE_TOKENS_PER_MESSAGE = 12
# Head-room for the few tokens a template adds at the start or end that our count may miss.
_SAFETY_TOKENS = 8


class LlamaCppGenerator(StreamingGenerator):
    """Chat completion with a GGUF model. One instance serialises its calls: a llama.cpp context is
    not safe to use from two threads at once."""

    def __init__(
        self,
        model_path: Path,
        context_tokens: int = 2048,
        threads: int = 2,
        seed: int = DEFAULT_SEED,
        repeat_penalty: float = 1.0,
    ) -> None:
        self._path = Path(model_path)
        self._repeat_penalty = repeat_penalty
        if not self._path.is_file():
            raise ModelError(f"no GGUF model file at {self._path}; set generator.model_path")
        self._seed = seed
        self._llm = _load_llama(self._path, context_tokens, threads, seed)
        self._context_tokens = int(self._llm.n_ctx())
        self._count_tokens = _token_counter(self._llm)
        self._lock = threading.Lock()
        self.name = f"llama-cpp:{self._path.name}"

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """How many prompt tokens ``messages`` take once the model's chat template is applied."""
        return self._count_tokens(messages)

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        reply_tokens = reply_budget(self._context_tokens, max_tokens)
        budget = self._context_tokens - reply_tokens - _SAFETY_TOKENS
        fitted = fit_to_context(messages, self._count_tokens, budget)
        payload: list[dict[str, str]] = [{"role": m.role, "content": m.content} for m in fitted]
        with self._lock:
            try:
                chunks = self._llm.create_chat_completion(
                    messages=cast(Any, payload),
                    max_tokens=reply_tokens,
                    temperature=temperature,
                    seed=self._seed,
                    repeat_penalty=self._repeat_penalty,
                    stream=True,
                )
                for chunk in cast(Iterator[dict[str, Any]], chunks):
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except (ValueError, RuntimeError) as error:
                raise ModelError(f"{self.name} failed to generate: {error}") from error


def _load_llama(path: Path, context_tokens: int, threads: int, seed: int) -> Llama:
    try:
        from llama_cpp import Llama
    except ImportError as error:
        raise ModelError("the llama-cpp generator needs llama-cpp-python: pip install llama-cpp-python") from error
    try:
        return Llama(
            model_path=str(path),
            n_ctx=context_tokens,
            n_threads=threads,
            n_threads_batch=threads,
            seed=seed,
            verbose=False,
        )
    except (ValueError, RuntimeError) as error:
        raise ModelError(f"could not load the GGUF model {path}: {error}") from error


def _token_counter(llm: Llama) -> Callable[[Sequence[ChatMessage]], int]:
    """Count tokens the way llama-cpp will build the prompt: with the GGUF's own chat template when it
    has one (the default handler renders exactly that template), else a per-message estimate."""
    template = llm.metadata.get("tokenizer.chat_template")

    def count_contents(messages: Sequence[ChatMessage]) -> int:
        return sum(
            len(llm.tokenize(m.content.encode(), add_bos=False, special=False)) + _TEMPLATE_TOKENS_PER_MESSAGE
            for m in messages
        )

    if not template:
        return count_contents
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=_token_text(llm, llm.token_eos()),
        bos_token=_token_text(llm, llm.token_bos()),
    )

    def count_rendered(messages: Sequence[ChatMessage]) -> int:
        payload = [{"role": m.role, "content": m.content} for m in messages]
        try:
            prompt = formatter(messages=cast(Any, payload)).prompt
        except Exception:
            # Some templates raise on a role order they dislike; llama-cpp would then fail too, but
            # counting must not be where that happens.
            return count_contents(messages)
        return len(llm.tokenize(prompt.encode(), add_bos=False, special=True))

    return count_rendered


def _token_text(llm: Llama, token_id: int) -> str:
    if token_id < 0:
        return ""
    return llm.detokenize([token_id], special=True).decode("utf-8", errors="ignore")
