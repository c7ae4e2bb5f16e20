"""``Site.open(read_only=True)``: beside the site's writer, no model until a query is embedded, no writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag_fed.config import EmbedderSettings, Settings
from rag_fed.errors import ConfigError, IndexIntegrityError, NotFoundError, RagFedError
from rag_fed.site import Site
from rag_fed.site.deferred import DeferredEmbedder
from tests.rag_fed.site.fake_embedders import HashEmbedder

pytestmark = pytest.mark.unit

MANUAL = "# Pump\n\n## Gland\nThe gland must drip 30 to 60 drops per minute.\n"


@pytest.fixture
def writer(settings: Settings, tmp_path: Path) -> Site:
    Site.init("north", settings)
    (tmp_path / "pump.md").write_text(MANUAL)
    node = Site.open("north", settings, embedder=HashEmbedder("hash@1"))
    assert not node.ingest([tmp_path / "pump.md"]).failed
    return node


def test_a_reader_opens_while_the_writer_holds_the_site(writer: Site, settings: Settings) -> None:
    with pytest.raises(RagFedError, match="already open for writing"):
        Site.open("north", settings, embedder=HashEmbedder("hash@1"))
    with Site.open("north", settings, read_only=True) as reader:
        assert isinstance(reader.embedder, DeferredEmbedder) and not reader.embedder.loaded
        assert [doc.doc_id for doc in reader.list_documents()] == ["pump.md"]
        assert reader.has_document("pump.md") and not reader.has_document("valve.md")
        (passage,) = reader.search("gland drops", 1, "keyword")
        assert passage.citation.doc_id == "pump.md" and not reader.embedder.loaded, "keyword search needs no model"
        assert reader.serving_version == "hash@1" and reader.embedder.dim == writer.embedder.dim
    writer.close()


def test_a_reader_refuses_writes_and_rebuilds(writer: Site, settings: Settings, tmp_path: Path) -> None:
    with Site.open("north", settings, read_only=True, embedder=HashEmbedder("hash@1")) as reader:
        with pytest.raises(RagFedError, match="read-only"):
            reader.delete_document("pump.md")
        with pytest.raises(RagFedError, match="read-only"):
            reader.ingest([tmp_path / "pump.md"])  # an unchanged file writes nothing, yet the store refuses
    with pytest.raises(ConfigError, match="cannot rebuild"):
        Site.open("north", settings, read_only=True, rebuild=True)
    writer.close()
    with Site.open("north", settings, embedder=HashEmbedder("hash@1")) as again:
        assert [doc.doc_id for doc in again.list_documents()] == ["pump.md"], "the reader changed nothing"


def test_a_site_never_ingested_into_has_nothing_to_read(settings: Settings) -> None:
    Site.init("empty", settings)
    with pytest.raises(NotFoundError, match="ragfed ingest PATH --site empty"):
        Site.open("empty", settings, read_only=True)


def test_the_deferred_embedder_loads_once_and_refuses_another_version(monkeypatch: pytest.MonkeyPatch) -> None:
    served = HashEmbedder("hash@1")
    monkeypatch.setattr("rag_fed.embedders.load_embedder", lambda settings: served)
    deferred = DeferredEmbedder(EmbedderSettings(), "hash@1", served.dim, where="site north")
    np.testing.assert_array_equal(deferred.embed(["gland"]), served.embed(["gland"]))
    assert deferred.loaded
    other = DeferredEmbedder(EmbedderSettings(), "hash@0", served.dim, where="site north")
    with pytest.raises(IndexIntegrityError, match="site north holds vectors of embedder version 'hash@0'"):
        other.embed(["gland"])
