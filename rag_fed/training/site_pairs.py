"""Build a site's training pairs from its own feedback log and docstore into a pairs file in its own folder.

This runs *at the site* (the coordinator only ever learns the file's path and pair counts, and in a
deployment not even that): ``<data_dir>/<site_id>/training/pairs.jsonl``. ``PairMiningSettings.source``
says where the pairs come from: engineers' judgements (``feedback.db``, see
:mod:`rag_fed.training.feedback_pairs`), the site's documents, or both. The docstore and the log are read
through SQLite's WAL, so this works while the site service is running.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexes import IndexStoreError, SQLiteDocStore
from indexes.manifest import read_manifest
from indexes.site_store import DOCSTORE_FILE_NAME
from rag_fed.config import PairMiningSettings
from rag_fed.errors import ModelError, TrainingError, from_leaf_error
from rag_fed.feedback.log import FeedbackLog
from rag_fed.site.layout import SiteLayout
from rag_fed.site.versions import active_store_dir
from rag_fed.training.feedback_pairs import FeedbackChunk, FeedbackPairs, feedback_pairs
from rag_fed.training.pairs import (
    TrainingChunk,
    TrainingPair,
    mine_pairs,
    save_pairs,
    split_pairs,
)

if TYPE_CHECKING:
    from rag_fed.embedders.base import Embedder

__all__ = [
    "PAIRS_FILE",
    "SitePairs",
    "discard_mined_pairs",
    "mine_site_pairs",
    "site_feedback_pairs",
    "site_pairs_path",
    "site_training_chunks",
]

PAIRS_FILE = "training/pairs.jsonl"
_BATCH = 512


@dataclass(frozen=True)
class SitePairs:
    """Where the site's pairs were written, how many, and what they came from (``source``: ``feedback``,
    ``documents`` or ``both``); ``feedback`` reports on the log when it was read."""

    site_id: str
    path: Path
    train: int
    val: int
    source: str = "documents"
    feedback: FeedbackPairs | None = None


def site_pairs_path(data_dir: Path, site_id: str) -> Path:
    return SiteLayout.for_site(data_dir, site_id).root / PAIRS_FILE


def discard_mined_pairs(site_root: Path) -> bool:
    """Remove the site's mined pairs file (after feedback was deleted, so it never trains); whether there was one.

    A SuperNode reads the file at every round, so its next round refuses ("mine pairs for the site first")
    rather than training on judgements that are gone; ``ragfed train`` mines afresh on every run anyway."""
    path = site_root / PAIRS_FILE
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as error:
        raise TrainingError(f"cannot remove the mined pairs file {path}: {error.strerror}") from None
    return True


def site_training_chunks(data_dir: Path, site_id: str) -> Iterator[TrainingChunk]:
    """Every chunk of the site as pair mining needs it (the document's kind and metadata included)."""
    layout = SiteLayout.for_site(data_dir, site_id).require()
    path = active_store_dir(layout) / DOCSTORE_FILE_NAME
    if not path.is_file():
        raise TrainingError(f"site {site_id!r} has no documents yet; ingest some with `ragfed ingest --site {site_id}`")
    try:
        store = SQLiteDocStore(path)
        try:
            kinds = {doc.doc_id: doc.kind for doc in store.list_documents()}
            ids = [int(chunk_id) for chunk_id in store.chunk_ids()]
            for start in range(0, len(ids), _BATCH):
                for chunk in store.get_chunks(ids[start : start + _BATCH]):
                    yield TrainingChunk(
                        doc_id=chunk.doc_id,
                        title=chunk.title,
                        section=chunk.section,
                        text=chunk.text,
                        kind=kinds.get(chunk.doc_id, "manual"),
                        metadata=dict(chunk.metadata),
                    )
        finally:
            store.close()
    except IndexStoreError as error:
        raise from_leaf_error(error) from error


def mine_site_pairs(
    data_dir: Path, site_id: str, settings: PairMiningSettings | None = None, *, embedder: Embedder | None = None
) -> SitePairs:
    """Build, split by query and save the site's pairs; ``TrainingError`` if too few come out.

    ``embedder`` ranks the site's chunks for each logged question (default: the embedder that made the
    vectors of the store that serves, loaded here)."""
    settings = settings or PairMiningSettings()
    feedback = None
    if settings.source != "documents":
        feedback = site_feedback_pairs(data_dir, site_id, settings.hard_negatives, embedder=embedder)
    learned = list(feedback.pairs) if feedback is not None else []
    if settings.source == "feedback" and len(learned) < 2:
        raise TrainingError(
            f"site {site_id!r} has {len(learned)} feedback pairs: its engineers' judgements (`ragfed feedback "
            "stats`) are needed to train on, or set training.pairs.source to auto or documents"
        )
    use_feedback = settings.source in ("feedback", "both") or (settings.source == "auto" and _trains(learned, settings))
    use_documents = settings.source in ("documents", "both") or not use_feedback
    pairs = learned if use_feedback else []
    if use_documents:
        pairs = pairs + mine_pairs(site_training_chunks(data_dir, site_id), settings)
    source = "documents" if not (use_feedback and learned) else "both" if use_documents else "feedback"
    split = split_pairs(pairs, settings.val_fraction, settings.seed)
    if len(split.train) < 2:
        raise TrainingError(
            f"site {site_id!r} yields only {len(pairs)} training pairs; it needs engineers' judgements, documents "
            "with section headings or work orders with a symptom to train on"
        )
    path = save_pairs(site_pairs_path(data_dir, site_id), split)
    return SitePairs(site_id, path, len(split.train), len(split.val), source, feedback)


def site_feedback_pairs(
    data_dir: Path, site_id: str, hard_negatives: int, *, embedder: Embedder | None = None
) -> FeedbackPairs | None:
    """Pairs from the site's feedback log, ranked with its serving store's vectors; ``None`` without a log."""
    layout = SiteLayout.for_site(data_dir, site_id).require()
    log = FeedbackLog.existing_at_site(layout.root)
    if log is None:
        return None
    judgements = list(log.all())
    if not judgements:
        return None
    path = active_store_dir(layout) / DOCSTORE_FILE_NAME
    if not path.is_file():
        raise TrainingError(f"site {site_id!r} has feedback but no documents; ingest them again")
    try:
        store = SQLiteDocStore(path, read_only=True)
        try:
            chunks, vectors = _chunks_and_vectors(store)
            embedder = embedder or _serving_embedder(store, site_id)
        finally:
            store.close()
    except IndexStoreError as error:
        raise from_leaf_error(error) from error

    def score(questions: Sequence[str]) -> np.ndarray:
        scores: np.ndarray = np.asarray(embedder.embed(list(questions)), dtype=np.float32) @ vectors.T
        return scores

    return feedback_pairs(judgements, chunks, score, hard_negatives=hard_negatives)


def _trains(pairs: list[TrainingPair], settings: PairMiningSettings) -> bool:
    return len(split_pairs(pairs, settings.val_fraction, settings.seed).train) >= 2


def _chunks_and_vectors(store: SQLiteDocStore) -> tuple[list[FeedbackChunk], np.ndarray]:
    """Every chunk (text, section, page) and its stored vector, in chunk-id order."""
    chunks: list[FeedbackChunk] = []
    blocks = []
    with store.snapshot():
        for ids, block in store.iter_vectors(batch_size=_BATCH):
            blocks.append(block)
            for chunk in store.get_chunks([int(i) for i in ids]):
                chunks.append(FeedbackChunk(chunk.chunk_id, chunk.doc_id, chunk.text, chunk.section, chunk.page))
    vectors = np.concatenate(blocks) if blocks else np.zeros((0, 1), dtype=np.float32)
    return chunks, vectors


def _serving_embedder(store: SQLiteDocStore, site_id: str) -> Embedder:
    """The embedder whose vectors the store holds: its questions are then ranked as the site ranks them."""
    from rag_fed.config import EmbedderSettings
    from rag_fed.embedders import load_embedder

    manifest = read_manifest(store)
    if manifest is None:
        raise TrainingError(f"site {site_id!r}: its store records no embedder yet; try again once ingest finished")
    try:
        embedder = load_embedder(EmbedderSettings(model=manifest.embedder_name))
    except ModelError as error:
        raise TrainingError(f"site {site_id!r}: cannot load the embedder of its store: {error}") from error
    if embedder.model_version != manifest.embedder_version:
        raise TrainingError(
            f"site {site_id!r}: its store holds vectors of embedder version {manifest.embedder_version}, but "
            f"{manifest.embedder_name} now loads {embedder.model_version}; re-embed the site first"
        )
    return embedder
