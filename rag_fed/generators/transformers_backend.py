"""A ``Generator`` on Hugging Face transformers: a local model folder, or a GGUF file dequantised to torch."""

from __future__ import annotations

import importlib.util
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from rag_fed.errors import ModelError
from rag_fed.generators.base import ChatMessage, StreamingGenerator
from rag_fed.generators.context import fit_to_context, reply_budget

__all__ = ["TransformersGenerator"]

# How long the consumer waits for the next piece before deciding the generation thread is stuck.
_PIECE_TIMEOUT_S = 300.0


class TransformersGenerator(StreamingGenerator):
    """Chat completion with ``transformers`` on CPU, streamed through ``TextIteratorStreamer``.

    ``model_path`` is a model folder (config, weights, tokenizer with a chat template) or a ``.gguf`` file,
    which transformers dequantises to float32 on load: slower than llama-cpp, but the same torch model can
    then be inspected or fine-tuned.
    """

    def __init__(
        self, model_path: Path, context_tokens: int = 2048, threads: int | None = None, repeat_penalty: float = 1.0
    ) -> None:
        self._path = Path(model_path)
        self._repeat_penalty = repeat_penalty
        if threads is not None:
            _set_torch_threads(threads)
        self._tokenizer, self._model = _load(self._path)
        if not getattr(self._tokenizer, "chat_template", None):
            raise ModelError(f"the model at {self._path} has no chat template; use an instruct/chat model")
        model_window = getattr(self._model.config, "max_position_embeddings", None) or context_tokens
        self._context_tokens = min(context_tokens, int(model_window))
        self._lock = threading.Lock()
        self.name = f"transformers:{self._path.name}"

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Prompt tokens of ``messages`` with the chat template and the assistant header applied."""
        return len(self._prompt_ids(messages))

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        reply_tokens = reply_budget(self._context_tokens, max_tokens)
        fitted = fit_to_context(messages, self.count_tokens, self._context_tokens - reply_tokens)
        input_ids = torch.tensor([self._prompt_ids(fitted)], dtype=torch.long)
        streamer = TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=_PIECE_TIMEOUT_S
        )
        cancelled = threading.Event()
        failures: list[BaseException] = []
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature}
            if temperature > 0
            # Greedy: clear the model's default sampling knobs so transformers does not warn about them.
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )

        def stop_when_cancelled(*_args: object, **_kwargs: object) -> bool:
            return cancelled.is_set()

        def run() -> None:
            try:
                with torch.inference_mode():
                    self._model.generate(
                        input_ids=input_ids,
                        attention_mask=torch.ones_like(input_ids),
                        max_new_tokens=reply_tokens,
                        streamer=streamer,
                        # A plain function, not a StoppingCriteria object: generate() deep-copies its
                        # criteria, and a copy would never see the event being set.
                        stopping_criteria=[stop_when_cancelled],
                        pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                        repetition_penalty=self._repeat_penalty,
                        **sampling,
                    )
            except Exception as error:
                failures.append(error)
                cast(Any, streamer).end()  # unblocks the consumer, which then raises the failure

        with self._lock:
            worker = threading.Thread(target=run, name="transformers-generate", daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            except queue.Empty as error:  # the worker is stuck or far too slow
                raise ModelError(f"{self.name} produced nothing for {_PIECE_TIMEOUT_S} s") from error
            finally:
                # Also reached when the caller stops reading early: stop the worker, free the lock.
                cancelled.set()
                worker.join(timeout=_PIECE_TIMEOUT_S)
        if failures:
            raise ModelError(f"{self.name} failed to generate: {failures[0]}") from failures[0]

    def _prompt_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        payload = [{"role": m.role, "content": m.content} for m in messages]
        ids = self._tokenizer.apply_chat_template(payload, add_generation_prompt=True, tokenize=True, return_dict=False)
        return [int(token) for token in ids]


def _load(path: Path) -> tuple[Any, Any]:
    """Return (tokenizer, model). Typed ``Any``: transformers annotates ``generate`` and
    ``apply_chat_template`` too loosely for strict mypy to follow, so casts would only add noise."""
    options: dict[str, Any] = {"local_files_only": True}
    if path.is_file() and path.suffix == ".gguf":
        # Checked before importing transformers, which takes seconds, and fails later and less clearly.
        missing = [name for name in ("gguf", "accelerate") if importlib.util.find_spec(name) is None]
        if missing:
            raise ModelError(
                f"loading a GGUF file with transformers needs {' and '.join(missing)}: pip install {' '.join(missing)}"
            )
        folder, options["gguf_file"] = path.parent, path.name
    elif path.is_dir():
        folder = path
    else:
        raise ModelError(f"{path} is neither a model folder nor a .gguf file; set generator.model_path")
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise ModelError(
            "the transformers generator needs transformers and torch: pip install transformers torch"
        ) from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), **options)
        model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype="float32", **options)
    except (OSError, ValueError, RuntimeError, ImportError) as error:
        raise ModelError(f"could not load the chat model at {path}: {error}") from error
    model.eval()
    return tokenizer, model


def _set_torch_threads(threads: int) -> None:
    import torch

    # torch's pool is process-wide; only ever lower it, so one small model cannot starve the others.
    if threads < torch.get_num_threads():
        torch.set_num_threads(threads)
