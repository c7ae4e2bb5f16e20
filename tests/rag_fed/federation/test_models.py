"""The model registry: versions computed as the embedder computes them, copies, idempotence, atomic writes."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from rag_fed.embedders import SentenceTransformerEmbedder
from rag_fed.embedders.base import Embedder
from rag_fed.errors import ModelError, NotFoundError
from rag_fed.federation.models import CATALOGUE_FILE, ModelRegistry, model_version
from tests.rag_fed.federation.perturbed_model import write_perturbed_minilm

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_perturbed_minilm(tmp_path_factory.mktemp("run"))


@pytest.mark.integration
def test_versions_are_the_ones_the_loaded_embedders_report(
    tmp_path: Path, trained: Path, packaged_embedder: Embedder
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    assert [entry.version for entry in registry.entries()] == [packaged_embedder.model_version]
    entry = registry.register(trained, source="training run 1", note="three sites, 2 rounds")
    assert entry.version.startswith("minilm-fed-r1@") and entry.version != packaged_embedder.model_version
    assert SentenceTransformerEmbedder(entry.path).model_version == entry.version
    assert registry.register(packaged_embedder_path(packaged_embedder), source="x").source == "packaged"


def packaged_embedder_path(embedder: Embedder) -> Path:
    assert isinstance(embedder, SentenceTransformerEmbedder)
    return embedder.path


def test_register_copies_the_folder_and_is_idempotent(tmp_path: Path, trained: Path) -> None:
    source = Path(shutil.copytree(trained, tmp_path / "export" / trained.name))
    registry = ModelRegistry(tmp_path / "models")
    entry = registry.register(source, source="training run 1")
    assert entry.path.is_relative_to(registry.directory) and entry.path.name == source.name
    assert registry.register(source, source="again", note="ignored") == entry
    shutil.rmtree(source)  # the export may go away: the registered copy stays valid
    reopened = ModelRegistry(tmp_path / "models")
    assert reopened.get(entry.version) == entry and model_version(entry.path) == entry.version
    assert [e.version for e in reopened.entries()][1:] == [entry.version]
    catalogue = json.loads((registry.directory / CATALOGUE_FILE).read_text())
    assert [m["version"] for m in catalogue["models"]] == [entry.version]
    leftovers = [p.name for p in registry.directory.iterdir() if p.name.startswith(".") and p.name != ".lock"]
    assert leftovers == [], "no temporary file or staging folder may remain"


def test_unknown_versions_and_folders_without_weights_are_refused(tmp_path: Path, trained: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    with pytest.raises(NotFoundError, match=r"no embedder version 'nope@123'.*known: model@"):
        registry.get("nope@123")
    empty = tmp_path / "empty-model"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="no weight files"):
        registry.register(empty, source="by hand")
    reference = registry.register(trained, source="by hand", copy=False)
    assert reference.path == trained.resolve()


def test_concurrent_registrations_all_land(tmp_path: Path, trained: Path) -> None:
    folders = [write_perturbed_minilm(tmp_path, f"run-{i}", seed=i) for i in range(3)]
    registry = ModelRegistry(tmp_path / "models")
    threads = [threading.Thread(target=registry.register, args=(f,), kwargs={"source": "t"}) for f in folders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    versions = {entry.version for entry in ModelRegistry(tmp_path / "models").entries()[1:]}
    assert versions == {model_version(folder) for folder in folders} and len(versions) == 3
