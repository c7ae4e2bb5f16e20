"""Creating a site's folder and opening its store: which store and embedder a site serves after a
rollout, read-only beside a running service or for writing (``Site.init`` and ``Site.open`` use these)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from indexes import IndexStoreError, SiteStore
from indexes.site_store import DOCSTORE_FILE_NAME
from rag_fed.config import Settings
from rag_fed.embedders import load_embedder
from rag_fed.embedders.base import Embedder
from rag_fed.errors import ConfigError, NotFoundError, from_leaf_error
from rag_fed.files import PRIVATE_FILE_MODE, private_dir, replace_text
from rag_fed.site.deferred import DeferredEmbedder
from rag_fed.site.layout import SiteLayout
from rag_fed.site.serving import embedder_settings
from rag_fed.site.versions import LEGACY_STORE, StoreRecord, read_pointer

__all__ = ["OpenedStore", "init_site", "open_store"]


@dataclass(frozen=True)
class OpenedStore:
    """A site's serving store with its embedder, and the records of it and of the store it replaced."""

    layout: SiteLayout
    store: SiteStore
    embedder: Embedder
    record: StoreRecord | None
    previous: StoreRecord | None


def init_site(site_id: str, settings: Settings) -> SiteLayout:
    """Create a site's data directory and key pair. Refuses to overwrite an existing site."""
    from rag_fed.crypto.keys import KeyPair  # the key code is only needed at creation

    layout = SiteLayout.for_site(settings.data_dir, site_id)
    if layout.exists():
        raise ConfigError(f"site {site_id!r} already exists at {layout.root}; pick another id")
    private_dir(layout.store_dir.parent)  # a site's documents are its owner's alone: 0700, files 0600
    private_dir(layout.store_dir)
    KeyPair.generate().save(layout.keys_dir)
    marker = {"site_id": site_id, "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
    replace_text(layout.marker, json.dumps(marker, indent=2) + "\n", mode=PRIVATE_FILE_MODE)
    return layout


def open_store(
    site_id: str, settings: Settings, *, embedder: Embedder | None, rebuild: bool, read_only: bool
) -> OpenedStore:
    """The store a site serves (its pointer's, after a rollout) and its embedder; see ``Site.open``."""
    layout = SiteLayout.for_site(settings.data_dir, site_id).require()
    pointer = read_pointer(layout)
    record = pointer.active if pointer is not None else None
    model = record.model if record is not None else settings.embedder.model
    directory = layout.root / (record.directory if record is not None else LEGACY_STORE)
    if read_only and rebuild:
        raise ConfigError("a site opened read-only cannot rebuild its index: open it for writing")
    # After a rollout the site serves the model its pointer names, whatever the settings say.
    model_settings = embedder_settings(settings, model)
    try:
        if read_only:
            store = _open_read_only(site_id, directory, model, embedder)
            manifest = store.manifest
            embedder = embedder or DeferredEmbedder(
                model_settings, manifest.embedder_version, manifest.dim, where=f"site {site_id} ({directory})"
            )
        else:
            embedder = embedder or load_embedder(model_settings)
            store = SiteStore.open(
                directory,
                embedder_version=embedder.model_version,
                dim=embedder.dim,
                embedder_name=model,
                hnsw_threshold=settings.ingest.hnsw_threshold,
                site_id=site_id,
                force_rebuild=rebuild,
            )
    except IndexStoreError as error:
        raise from_leaf_error(error) from error
    previous = pointer.previous if pointer is not None else None
    return OpenedStore(layout, store, embedder, record, previous)


def _open_read_only(site_id: str, directory: Path, model: str, embedder: Embedder | None) -> SiteStore:
    if not (directory / DOCSTORE_FILE_NAME).is_file():
        raise NotFoundError(
            f"site {site_id} holds no documents yet (nothing was ever ingested): ingest some with "
            f"`ragfed ingest PATH --site {site_id}`"
        )
    return SiteStore.open_read_only(
        directory,
        embedder_name=model,
        embedder_version=embedder.model_version if embedder is not None else None,
        dim=embedder.dim if embedder is not None else None,
        site_id=site_id,
    )
