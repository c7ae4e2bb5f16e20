"""A file without a title is ingested without one: its name (the document's id) is neither embedded nor
keyword-indexed as text (real site: SQLite, FTS5, FAISS)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from rag_fed.config import Settings
from rag_fed.site import Site
from rag_fed.types import Citation

pytestmark = pytest.mark.integration


class RecordingEmbedder:
    """The real embedder, recording every text it is given."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.texts: list[str] = []
        self.dim = inner.dim  # type: ignore[attr-defined]
        self.model_version = inner.model_version  # type: ignore[attr-defined]

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.texts += list(texts)
        return self._inner.embed(texts)  # type: ignore[attr-defined,no-any-return]


def test_an_untitled_file_is_indexed_by_its_text_alone(tmp_path: Path, packaged_embedder: object) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "1.md").write_text("compact memories of the wing flutter model\n", encoding="utf-8")
    (docs / "2.html").write_text("<p>boundary layer transition on a flat plate</p>", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data")
    Site.init("north", settings)
    embedder = RecordingEmbedder(packaged_embedder)
    site = Site.open("north", settings, embedder=embedder)  # type: ignore[arg-type]
    try:
        site.ingest([docs])
        assert sorted(embedder.texts) == [
            "boundary layer transition on a flat plate",
            "compact memories of the wing flutter model",
        ]
        assert {doc.title for doc in site.list_documents()} == {""}
        assert site.search("1", 5, "keyword") == [] and site.search("2", 5, "keyword") == []
        hit = site.search("wing flutter", 1, "keyword")[0]
        assert (hit.citation.doc_id, hit.citation.title) == ("1.md", "")
    finally:
        site.close()


def test_a_citation_without_title_is_headed_by_its_section_alone() -> None:
    assert Citation(site_id="s", doc_id="1.md", title="", section="Pump").heading == "Pump"
    assert Citation(site_id="s", doc_id="1.md", title="Manual", section="Pump").heading == "Manual — Pump"
    assert Citation(site_id="s", doc_id="1.md", title="Manual").heading == "Manual"
