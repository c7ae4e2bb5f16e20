"""Which of a site's stores serves queries: one store folder per embedder version and an atomic pointer.

A site's vectors belong to one embedder version, so a new version needs a new store (documents, chunks,
vectors, keyword index) built beside the one that serves. The layout under the site's folder::

    store/              the first store (every site created before versions has only this one)
    stores/<name>/      stores built by a re-embed, one per version
    stores.json         {"active": StoreRecord, "previous": StoreRecord | null}

``stores.json`` is the one switch: it is written to a temporary file, fsynced and renamed over the old
one, so after a crash it names either the old store or the new one, never a half-built one. While it is
absent the site serves ``store/`` with the embedder of its settings (a legacy site needs no migration).
A store folder that the pointer does not name is the leftover of an interrupted re-embed and is removed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag_fed.errors import IndexIntegrityError
from rag_fed.files import PRIVATE_FILE_MODE, replace_text
from rag_fed.site.layout import SiteLayout

__all__ = [
    "LEGACY_STORE",
    "POINTER_FILE",
    "STORES_DIR",
    "StorePointer",
    "StoreRecord",
    "active_store_dir",
    "new_store_directory",
    "read_pointer",
    "remove_unreferenced_stores",
    "write_pointer",
]

LEGACY_STORE = "store"
STORES_DIR = "stores"
POINTER_FILE = "stores.json"


class StoreRecord(BaseModel):
    """One store of a site: its folder (relative to the site's folder) and the embedder of its vectors.

    ``model`` is what reloads that embedder after a restart: ``packaged`` or a model folder's path; it is
    also the embedder name the store's manifest records.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    directory: str = Field(pattern=r"^(store|stores/[A-Za-z0-9][A-Za-z0-9._-]*)$")
    embedder_version: str = Field(min_length=1)
    model: str = Field(min_length=1)
    switched_at: str = ""


class StorePointer(BaseModel):
    """The store that serves (``active``) and the one it replaced (``previous``, kept for a rollback)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    active: StoreRecord
    previous: StoreRecord | None = None


def read_pointer(layout: SiteLayout) -> StorePointer | None:
    """The site's pointer, ``None`` for a site that never switched; ``IndexIntegrityError`` if unreadable."""
    path = layout.root / POINTER_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return StorePointer.model_validate_json(text)
    except ValidationError as error:
        raise IndexIntegrityError(
            f"{path} is damaged ({error.error_count()} problems); restore it from a backup, or delete it to "
            f"serve the first store ({layout.root / LEGACY_STORE}) again"
        ) from None


def write_pointer(layout: SiteLayout, pointer: StorePointer) -> None:
    """Replace the pointer atomically and durably: this rename is the moment a site switches stores."""
    text = json.dumps(pointer.model_dump(mode="json"), indent=2) + "\n"
    replace_text(layout.root / POINTER_FILE, text, mode=PRIVATE_FILE_MODE)


def active_store_dir(layout: SiteLayout) -> Path:
    """The folder of the store that serves queries now (for tools that read a site's docstore directly)."""
    pointer = read_pointer(layout)
    return layout.root / (pointer.active.directory if pointer is not None else LEGACY_STORE)


def new_store_directory(embedder_version: str) -> str:
    """A fresh store folder name (relative to the site) for vectors of ``embedder_version``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    digest = hashlib.sha256(embedder_version.encode()).hexdigest()[:8]
    return f"{STORES_DIR}/{stamp}-{digest}"


def remove_unreferenced_stores(layout: SiteLayout, keep: set[str]) -> list[Path]:
    """Delete store folders not in ``keep`` (relative names): leftovers of an interrupted re-embed, or a
    store two switches old. Only the process that holds the site's active store may call this."""
    candidates = [layout.root / LEGACY_STORE]
    stores = layout.root / STORES_DIR
    if stores.is_dir():
        candidates += sorted(path for path in stores.iterdir() if path.is_dir())
    removed = []
    for path in candidates:
        if path.is_dir() and path.relative_to(layout.root).as_posix() not in keep:
            shutil.rmtree(path)
            removed.append(path)
    return removed
