"""The ``Generator`` contract every backend passes: llama-cpp in-process, an OpenAI-compatible server on
loopback (llama-cpp-python's own server, a real process), and transformers on the same GGUF."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag_fed.config import GeneratorSettings
from rag_fed.generators import ChatMessage, Generator, load_generator, packaged_smollm2_path
from rag_fed.generators.llama_cpp_backend import LlamaCppGenerator
from rag_fed.generators.openai_backend import OpenAICompatibleGenerator
from tests.llama_server import llama_cpp_server

# A small window keeps the overflow test cheap: evaluating the kept prompt dominates its run time.
_CONTEXT_TOKENS = 512
# One thread: with CPUs oversubscribed (parallel test runs, CI), ggml's spinning barriers made two
# threads 20x slower than one on our 2-core machines.
_THREADS = 1

_QUESTION = [
    ChatMessage("system", "You are a maintenance assistant. Answer in one or two sentences."),
    ChatMessage("user", "How do I replace the hydraulic filter on a press?"),
]


def _long_conversation() -> list[ChatMessage]:
    """Several times the test window, ending in a question the model must still answer."""
    filler = "The spindle motor of line 3 overheated again after the coolant pump was serviced. " * 7
    chat = [ChatMessage("system", "You are a maintenance assistant. Be brief.")]
    for turn in range(10):
        chat.append(ChatMessage("user", f"Log entry {turn}: {filler}"))
        chat.append(ChatMessage("assistant", f"Noted entry {turn}. {filler}"))
    chat.append(ChatMessage("user", "In one sentence: what should be checked first?"))
    return chat


class GeneratorContract:
    """Subclass and provide a ``generator`` fixture to check a backend."""

    @pytest.fixture
    def generator(self) -> Generator:
        raise NotImplementedError

    def test_is_a_generator_with_a_name(self, generator: Generator) -> None:
        assert isinstance(generator, Generator)
        assert generator.name

    def test_generate_returns_non_empty_text(self, generator: Generator) -> None:
        answer = generator.generate(_QUESTION, max_tokens=32)
        assert isinstance(answer, str)
        assert answer.strip()

    def test_stream_pieces_join_to_the_greedy_answer(self, generator: Generator) -> None:
        pieces = list(generator.stream(_QUESTION, max_tokens=32, temperature=0.0))
        assert len(pieces) >= 2
        assert all(isinstance(piece, str) and piece for piece in pieces)
        # Greedy decoding is deterministic, so a second call (the joined stream) gives the same text.
        assert "".join(pieces) == generator.generate(_QUESTION, max_tokens=32, temperature=0.0)

    def test_max_tokens_cuts_the_greedy_answer_short(self, generator: Generator) -> None:
        short = generator.generate(_QUESTION, max_tokens=5)
        longer = generator.generate(_QUESTION, max_tokens=32)
        assert short.strip()
        assert len(short.split()) <= 5
        # Same greedy path, stopped earlier: the short answer is where the longer one starts.
        assert longer.startswith(short)
        assert len(longer) > len(short)

    def test_a_conversation_longer_than_the_context_still_gets_an_answer(self, generator: Generator) -> None:
        answer = generator.generate(_long_conversation(), max_tokens=16)
        assert answer.strip()


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
        assert llama_cpp_generator.count_tokens(_long_conversation()) > 4 * _CONTEXT_TOKENS


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
