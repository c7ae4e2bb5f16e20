"""Which store a site serves from, and replacing it: re-embed for a new version, roll back, prune.

``StoreVersions`` is the part of a ``Site`` that owns its stores. Every operation of the site uses one
store and its embedder from start to end (:meth:`StoreVersions.use`); writes also hold the write lock,
which a re-embed takes for its final catch-up and the switch, so no write can land in a store that is
being replaced. A replaced store is closed once the last operation using it ends, and kept on disk as
the ``previous`` store until the next switch or a prune.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from indexes import SiteStore
from rag_fed.config import PACKAGED, EmbedderSettings, Settings
from rag_fed.embedders import SentenceTransformerEmbedder, load_embedder, packaged_minilm_path
from rag_fed.embedders.base import Embedder
from rag_fed.errors import ConfigError, InputError, ModelError
from rag_fed.protocol import ReembedProgress
from rag_fed.site.layout import SiteLayout
from rag_fed.site.reembed import JobKind, JobSpec, ReembedJob
from rag_fed.site.versions import (
    StorePointer,
    StoreRecord,
    new_store_directory,
    remove_unreferenced_stores,
    write_pointer,
)

__all__ = ["Serving", "StoreVersions", "VectorSnapshot", "embedder_settings", "model_of"]


@dataclass(frozen=True)
class VectorSnapshot:
    """All committed vectors of the serving store and the embedder version they belong to."""

    embedder_version: str
    vectors: NDArray[np.float32]


class Serving:
    """A store and its embedder, and how many operations use them (so a replaced one closes last)."""

    def __init__(self, record: StoreRecord, store: SiteStore, embedder: Embedder) -> None:
        self.record = record
        self.store = store
        self.embedder = embedder
        self._users = 0
        self._retired = False

    # Called with the owner's state lock held.
    def acquire(self) -> Serving:
        self._users += 1
        return self

    def release(self) -> bool:
        """One user fewer; ``True`` when it was retired and this was its last user (close it now)."""
        self._users -= 1
        return self._retired and self._users == 0

    def retire(self) -> bool:
        """No new users; ``True`` when nobody uses it (close it now), else its last user closes it."""
        self._retired = True
        return self._users == 0


def embedder_settings(settings: Settings, model: str) -> EmbedderSettings:
    """The site's embedder settings (batch size, sequence length) for another model."""
    return settings.embedder.model_copy(update={"model": model})


def model_of(embedder: Embedder) -> str:
    """How a store records its embedder so it can be reloaded: ``packaged`` or the model folder."""
    if not isinstance(embedder, SentenceTransformerEmbedder):
        raise ConfigError(
            f"cannot tell where embedder {embedder.model_version!r} is loaded from: pass model='packaged' or "
            "the path of its model folder"
        )
    folder = embedder.path.resolve()
    try:
        if folder == packaged_minilm_path().resolve():
            return PACKAGED
    except ModelError:
        pass
    return str(Path(folder))


class StoreVersions:
    """The serving store of one site, the previous one, and the re-embed job that may replace them."""

    def __init__(self, layout: SiteLayout, settings: Settings, serving: Serving, previous: StoreRecord | None) -> None:
        self._layout = layout
        self._settings = settings
        self._serving = serving
        self._previous = previous
        self._job: ReembedJob | None = None
        self._state_lock = threading.Lock()  # guards the three fields above; held only briefly
        self.write_lock = threading.RLock()  # held by every write and by a re-embed's last round and switch

    @property
    def current(self) -> Serving:
        """What serves now (a snapshot: use :meth:`use` to keep it open during an operation)."""
        return self._serving

    @property
    def previous(self) -> StoreRecord | None:
        return self._previous

    @contextmanager
    def use(self) -> Iterator[Serving]:
        """The serving store and embedder, kept open until the block ends even if a switch happens."""
        with self._state_lock:
            serving = self._serving.acquire()
        try:
            yield serving
        finally:
            with self._state_lock:
                close = serving.release()
            if close:
                serving.store.close()

    def start_reembed(self, embedder: Embedder, model: str | None) -> ReembedJob:
        """See ``Site.start_reembed``."""
        version = embedder.model_version
        with self._state_lock:
            job, serving, previous = self._job, self._serving, self._previous
            if job is not None and job.running:
                if job.target_version == version:
                    return job
                progress = job.status()
                raise InputError(
                    f"site {self._layout.site_id} is re-embedding for {job.target_version} ({progress.chunks_done}/"
                    f"{progress.chunks_total} chunks); wait for it to finish or roll back to cancel it"
                )
            if version == serving.embedder.model_version:
                self._job = ReembedJob("rollout", version, version)
                return self._job
            if previous is not None and previous.embedder_version == version:
                target, resume = previous, True  # back to the kept store: only later changes are embedded
            else:
                # Whatever an interrupted attempt left behind goes first: every attempt starts clean.
                keep = {serving.record.directory} | ({previous.directory} if previous is not None else set())
                remove_unreferenced_stores(self._layout, keep)
                directory = new_store_directory(version)
                target = StoreRecord(directory=directory, embedder_version=version, model=model or model_of(embedder))
                resume = False
            self._job = self._start_job("rollout", serving, target, embedder, resume)
            return self._job

    def rollback(self, embedder: Embedder | None) -> ReembedJob:
        """See ``Site.rollback``."""
        running = self._job
        # A job cancelled before it switched leaves the site on the store it served: that is the rollback.
        if running is not None and running.running and running.cancel().state != "done":
            return running
        previous = self._previous
        site_id = self._layout.site_id
        if previous is None:
            raise InputError(f"site {site_id} keeps no previous store to roll back to (it never switched)")
        embedder = embedder or load_embedder(embedder_settings(self._settings, previous.model))
        if embedder.model_version != previous.embedder_version:
            raise ModelError(
                f"the previous store of site {site_id} holds vectors of {previous.embedder_version!r}, but "
                f"{previous.model} now holds {embedder.model_version!r}; roll out a version instead"
            )
        with self._state_lock:
            if (self._job is not None and self._job.running) or self._previous != previous:
                raise InputError(f"site {site_id} started another re-embed meanwhile; roll back again")
            self._job = self._start_job("rollback", self._serving, previous, embedder, resume=True)
            return self._job

    def status(self) -> ReembedProgress | None:
        job = self._job
        return job.status() if job is not None else None

    def prune(self) -> list[Path]:
        """See ``Site.prune``."""
        with self._state_lock:
            if self._job is not None and self._job.running:
                raise InputError(f"site {self._layout.site_id} is re-embedding; prune once it has finished")
            serving = self._serving
            if self._previous is not None:
                write_pointer(self._layout, StorePointer(active=serving.record))
                self._previous = None
            return remove_unreferenced_stores(self._layout, {serving.record.directory})

    def close(self) -> None:
        """Cancel a running job (the serving store stays as it was) and close the serving store."""
        job = self._job
        if job is not None and job.running:
            job.cancel()
        self._serving.store.close()

    def _start_job(
        self, kind: JobKind, serving: Serving, target: StoreRecord, embedder: Embedder, resume: bool
    ) -> ReembedJob:
        spec = JobSpec(
            job=kind,
            layout=self._layout,
            source=serving.store,
            source_version=serving.embedder.model_version,
            target=target,
            embedder=embedder,
            resume=resume,
            batch_chunks=self._settings.ingest.batch_chunks,
            hnsw_threshold=self._settings.ingest.hnsw_threshold,
            write_lock=self.write_lock,
            switch=self._switch,
        )
        return ReembedJob(kind, spec.source_version, embedder.model_version, spec).start()

    def _switch(self, record: StoreRecord, store: SiteStore, embedder: Embedder) -> None:
        """Serve ``store`` from now on (called by a job holding the write lock)."""
        with self._state_lock:
            old = self._serving
            active = record.model_copy(update={"switched_at": datetime.now(UTC).isoformat(timespec="seconds")})
            write_pointer(self._layout, StorePointer(active=active, previous=old.record))  # the commit point
            self._serving = Serving(active, store, embedder)
            self._previous = old.record
            close_old = old.retire()
        if close_old:
            old.store.close()
        # A store two switches old can no longer be rolled back to.
        remove_unreferenced_stores(self._layout, {active.directory, old.record.directory})
