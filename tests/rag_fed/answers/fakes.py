"""Stand-ins for answer tests: a bag-of-words embedder, a scripted model, passages and evidence."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from rag_fed.answers.text import content_terms
from rag_fed.generators.base import ChatMessage
from rag_fed.types import Citation, Evidence, Passage

__all__ = ["BagOfWordsEmbedder", "ScriptedGenerator", "evidence", "passage"]


class BagOfWordsEmbedder:
    """Deterministic: each content term adds one to a hashed dimension; vectors are L2-normalised (a
    text without content terms maps to a fixed unit vector). Records every batch it embeds."""

    dim = 256
    model_version = "bag-of-words@1"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.batches.append(list(texts))
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in content_terms(text):
                vectors[row, zlib.crc32(term.encode()) % (self.dim - 1)] += 1.0
            if not vectors[row].any():
                vectors[row, self.dim - 1] = 1.0
        return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), dtype=np.float32)

    @property
    def embedded(self) -> list[str]:
        return [text for batch in self.batches for text in batch]


class ScriptedGenerator:
    """Streams the given tokens (then raises ``error``, if any); records what it was asked and how far
    it was read."""

    name = "scripted"

    def __init__(self, tokens: Sequence[str] = (), error: Exception | None = None) -> None:
        self.tokens = list(tokens)
        self.error = error
        self.calls: list[list[ChatMessage]] = []
        self.max_tokens: list[int] = []
        self.read = 0
        self.closed = False

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        self.calls.append(list(messages))
        self.max_tokens.append(max_tokens)
        try:
            for token in self.tokens:
                self.read += 1
                yield token
            if self.error is not None:
                raise self.error
        finally:
            self.closed = True

    def generate(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> str:
        return "".join(self.stream(messages, max_tokens, temperature))


def passage(
    text: str,
    *,
    site: str = "north",
    doc: str = "pump.md",
    section: str = "Seals",
    chunk: int = 1,
    rank: int = 1,
    dense: float | None = None,
) -> Passage:
    return Passage(
        citation=Citation(site_id=site, doc_id=doc, title=doc.split(".")[0].title(), section=section),
        chunk_id=chunk,
        text=text,
        score=1.0 / rank,
        rank=rank,
        dense_score=dense,
    )


def evidence(
    text: str,
    score: float,
    *,
    site: str = "north",
    doc: str = "pump.md",
    section: str = "Seals",
    chunk: int = 1,
    rank: int = 1,
    missing: Sequence[str] = (),
    absent: Sequence[str] = (),
    title: str | None = None,
) -> Evidence:
    return Evidence(
        citation=Citation(
            site_id=site, doc_id=doc, title=doc.split(".")[0].title() if title is None else title, section=section
        ),
        text=text,
        score=score,
        similarity=score,
        coverage=score,
        passage_rank=rank,
        chunk_id=chunk,
        missing=list(missing),
        absent=list(absent),
    )
