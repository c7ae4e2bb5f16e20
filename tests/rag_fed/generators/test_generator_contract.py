"""The ``Generator`` contract (``rag_fed.testing.generator``) every backend passes: llama-cpp in-process, an
OpenAI-compatible server on loopback (llama-cpp-python's own server, a real process), and transformers on
the same GGUF."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag_fed.config import GeneratorSettings
from rag_fed.generators import ChatMessage, Generator, load_generator, packaged_smollm2_path
from rag_fed.generators.llama_cpp_backend import LlamaCppGenerator
from rag_fed.generators.openai_backend import OpenAICompatibleGenerator
from rag_fed.testing.generator import GeneratorContract, long_conversation
from tests.llama_server import llama_cpp_server

# A small window keeps the overflow test cheap: evaluating the kept prompt dominates its run time.
_CONTEXT_TOKENS = 512
# One thread: with CPUs oversubscribed (parallel test runs, CI), ggml's spinning barriers made two
# threads 20x slower than one on our 2-core machines.
_THREADS = 1


@pytest.fixture(scope="session")
def smollm2() -> Path:
    return packaged_smollm2_path()


@pytest.fixture(scope="session")
def llama_cpp_generator(smollm2: Path) -> LlamaCppGenerator:
    return LlamaCppGenerator(smollm2, context_tokens=_CONTEXT_TOKENS, threads=_THREADS)


@pytest.mark.integration
class TestLlamaCpp(GeneratorContract):
    @pytest.fixture
    def generator(self, llama_cpp_generator: LlamaCppGenerator) -> Generator:
        return llama_cpp_generator

    def test_the_repeat_penalty_from_settings_breaks_greedy_loops(self, llama_cpp_generator: LlamaCppGenerator) -> None:
        loop = [ChatMessage("user", "Repeat after me: the seal leaks the seal leaks the seal leaks the seal leaks")]
        plain = llama_cpp_generator.generate(loop, max_tokens=48)
        settings = GeneratorSettings(context_tokens=_CONTEXT_TOKENS, threads=_THREADS, repeat_penalty=1.5)
        penalised = load_generator(settings).generate(loop, max_tokens=48)

        def most_repeated_word(text: str) -> int:
            return Counter(text.lower().split()).most_common(1)[0][1]

        # Greedy decoding at 1.0 keeps echoing "the seal leaks" until max_tokens; the penalty stops it.
        assert most_repeated_word(plain) >= 8
        assert most_repeated_word(penalised) < most_repeated_word(plain) / 2

    def test_the_long_conversation_really_overflows_the_context(self, llama_cpp_generator: LlamaCppGenerator) -> None:
        # Guards the test above: it must exercise truncation, not fit by accident.
        assert llama_cpp_generator.count_tokens(long_conversation()) > 4 * _CONTEXT_TOKENS


@pytest.fixture(scope="session")
def llama_server(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama-cpp-python OpenAI-compatible server on loopback; yields its ``/v1`` base URL."""
    log_dir = tmp_path_factory.mktemp("llama-server")
    with llama_cpp_server(smollm2, log_dir, context_tokens=_CONTEXT_TOKENS, threads=_THREADS) as base_url:
        yield base_url


@pytest.mark.integration
class TestOpenAICompatibleAgainstLlamaCppServer(GeneratorContract):
    @pytest.fixture
    def generator(self, llama_server: str) -> Generator:
        return OpenAICompatibleGenerator(
            llama_server, model_name="smollm2", timeout_s=60.0, context_tokens=_CONTEXT_TOKENS
        )


@pytest.fixture(scope="class")
def transformers_generator(smollm2: Path) -> Iterator[Generator]:
    import torch

    from rag_fed.generators.transformers_backend import TransformersGenerator

    # The backend lowers torch's process-wide thread pool; give the rest of the session its own back.
    threads_before = torch.get_num_threads()
    try:
        yield TransformersGenerator(smollm2, context_tokens=_CONTEXT_TOKENS, threads=_THREADS)
    finally:
        torch.set_num_threads(threads_before)


@pytest.mark.slow
@pytest.mark.integration
class TestTransformersOnGGUF(GeneratorContract):
    @pytest.fixture
    def generator(self, transformers_generator: Generator) -> Generator:
        return transformers_generator
