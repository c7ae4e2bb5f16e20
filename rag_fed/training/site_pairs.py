"""Mine a site's training pairs from its own docstore into a pairs file inside the site's own folder.

This runs *at the site* (the coordinator only ever learns the file's path and pair counts, and in a
deployment not even that): ``<data_dir>/<site_id>/training/pairs.jsonl``. The docstore is read
through SQLite's WAL, so mining works while the site service is running.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from indexes import IndexStoreError, SQLiteDocStore
from indexes.site_store import DOCSTORE_FILE_NAME
from rag_fed.errors import TrainingError, from_leaf_error
from rag_fed.site.layout import SiteLayout
from rag_fed.site.versions import active_store_dir
from rag_fed.training.pairs import PairMiningSettings, TrainingChunk, mine_pairs, save_pairs, split_pairs

__all__ = ["PAIRS_FILE", "SitePairs", "mine_site_pairs", "site_pairs_path", "site_training_chunks"]

PAIRS_FILE = "training/pairs.jsonl"
_BATCH = 512


@dataclass(frozen=True)
class SitePairs:
    site_id: str
    path: Path
    train: int
    val: int


def site_pairs_path(data_dir: Path, site_id: str) -> Path:
    return SiteLayout.for_site(data_dir, site_id).root / PAIRS_FILE


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


def mine_site_pairs(data_dir: Path, site_id: str, settings: PairMiningSettings | None = None) -> SitePairs:
    """Mine, split by query and save the site's pairs; ``TrainingError`` if too few come out."""
    settings = settings or PairMiningSettings()
    pairs = mine_pairs(site_training_chunks(data_dir, site_id), settings)
    split = split_pairs(pairs, settings.val_fraction, settings.seed)
    if len(split.train) < 2:
        raise TrainingError(
            f"site {site_id!r} yields only {len(pairs)} training pairs; it needs documents with section "
            "headings or work orders with a symptom to train on"
        )
    path = save_pairs(site_pairs_path(data_dir, site_id), split)
    return SitePairs(site_id, path, len(split.train), len(split.val))
