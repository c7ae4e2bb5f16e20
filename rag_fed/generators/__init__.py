"""Generators (chat LLMs): the ``Generator`` contract, one module per backend, and the factory."""

from __future__ import annotations

import threading
from pathlib import Path

from rag_fed.config import PACKAGED, GeneratorSettings
from rag_fed.errors import ConfigError, ModelError
from rag_fed.generators.base import ChatMessage, Generator, Role, StreamingGenerator
from rag_fed.generators.packaged import packaged_smollm2_path

__all__ = [
    "ChatMessage",
    "Generator",
    "Role",
    "StreamingGenerator",
    "clear_generator_cache",
    "generate_text",
    "load_generator",
    "packaged_smollm2_path",
]

_loaded: dict[str, Generator] = {}
# Held while loading so that concurrent first requests load a model once.
_loading = threading.Lock()


def load_generator(settings: GeneratorSettings) -> Generator:
    """The generator the settings describe, built once per distinct settings in this process.

    Backend modules are imported here, on demand, so a site that only calls an HTTP endpoint never
    imports llama-cpp or torch.
    """
    key = settings.model_dump_json()
    with _loading:
        if key not in _loaded:
            _loaded[key] = _build(settings)
        return _loaded[key]


def clear_generator_cache() -> None:
    """Forget loaded generators (their memory is freed once no caller holds them)."""
    with _loading:
        _loaded.clear()


def generate_text(
    generator: Generator,
    prompt: str,
    system: str | None = None,
    max_tokens: int = 256,
    temperature: float = 0.0,
) -> str:
    """One-shot convenience: answer ``prompt`` (under an optional system prompt), stripped."""
    messages: list[ChatMessage] = [ChatMessage("system", system)] if system else []
    messages.append(ChatMessage("user", prompt))
    return generator.generate(messages, max_tokens=max_tokens, temperature=temperature).strip()


def _build(settings: GeneratorSettings) -> Generator:
    if settings.backend == "openai":
        from rag_fed.generators.openai_backend import OpenAICompatibleGenerator

        if settings.base_url is None:
            raise ConfigError(
                "generator.backend is 'openai' but generator.base_url is not set "
                "(RAGFED_GENERATOR__BASE_URL, e.g. http://127.0.0.1:8080/v1)"
            )
        return OpenAICompatibleGenerator(
            settings.base_url,
            api_key=settings.api_key,
            model_name=settings.model_name,
            timeout_s=settings.timeout_s,
            context_tokens=settings.context_tokens,
        )
    path = _model_path(settings.model_path)
    if settings.backend == "transformers":
        from rag_fed.generators.transformers_backend import TransformersGenerator

        return TransformersGenerator(
            path,
            context_tokens=settings.context_tokens,
            threads=settings.threads,
            repeat_penalty=settings.repeat_penalty,
        )
    from rag_fed.generators.llama_cpp_backend import LlamaCppGenerator

    return LlamaCppGenerator(
        path,
        context_tokens=settings.context_tokens,
        threads=settings.threads,
        repeat_penalty=settings.repeat_penalty,
    )


def _model_path(configured: str) -> Path:
    if configured == PACKAGED:
        return packaged_smollm2_path()
    path = Path(configured).expanduser()
    if not path.exists():
        raise ModelError(f"generator.model_path {configured!r} is neither 'packaged' nor an existing path")
    return path
