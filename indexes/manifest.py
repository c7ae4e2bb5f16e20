"""The site store's manifest: which embedder the vectors come from and which vector file is current.

It lives as JSON under the ``manifest`` key of the docstore's ``meta`` table, so it commits with SQLite's
guarantees. ``vector_file`` is empty until the first checkpoint; ``vector_commit_seq`` is the docstore
``commit_seq`` that file reflects, so a smaller value than the docstore's means the file is stale (a
crash between a commit and the next checkpoint) and the index must be rebuilt from SQLite.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Protocol

from indexes.base import IndexKind
from indexes.errors import IndexCorruptError, IndexMismatchError

__all__ = ["MANIFEST_KEY", "Manifest", "MetaTable", "read_manifest", "write_manifest"]

MANIFEST_KEY = "manifest"


class MetaTable(Protocol):
    """The key/value table the manifest is kept in (``SQLiteDocStore`` provides it)."""

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str, *, durable: bool = False) -> None: ...


@dataclass(frozen=True)
class Manifest:
    embedder_name: str
    embedder_version: str
    dim: int
    index_kind: IndexKind
    vector_file: str = ""
    vector_sha256: str = ""
    vector_commit_seq: int = -1
    vector_count: int = 0

    def check_embedder(self, name: str, version: str, dim: int, where: str) -> None:
        """Raise ``IndexMismatchError`` unless the vectors come from this embedder name, version and dim."""
        if (self.embedder_name, self.embedder_version, self.dim) != (name, version, dim):
            raise IndexMismatchError(
                f"{where} holds vectors of embedder {self.embedder_name!r} version {self.embedder_version!r}"
                f" (dim {self.dim}), but was opened for embedder {name!r} version {version!r} (dim {dim});"
                " open it with the embedder it was built with, or re-embed the site for the new one"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            fields = json.loads(text)
            manifest = cls(
                embedder_name=str(fields["embedder_name"]),
                embedder_version=str(fields["embedder_version"]),
                dim=int(fields["dim"]),
                index_kind=fields["index_kind"],
                vector_file=str(fields["vector_file"]),
                vector_sha256=str(fields["vector_sha256"]),
                vector_commit_seq=int(fields["vector_commit_seq"]),
                vector_count=int(fields["vector_count"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"the store manifest cannot be parsed ({exc!r}): {text[:200]!r}") from exc
        if manifest.index_kind not in ("flat", "hnsw") or manifest.dim < 1:
            raise IndexCorruptError(f"the store manifest holds impossible values: {text[:200]!r}")
        if "/" in manifest.vector_file or manifest.vector_file.startswith("."):
            raise IndexCorruptError(f"the store manifest names a vector file outside the store: {text[:200]!r}")
        return manifest


def read_manifest(meta: MetaTable) -> Manifest | None:
    """The stored manifest, or ``None`` for a store that never wrote one."""
    text = meta.get_meta(MANIFEST_KEY)
    return None if text is None else Manifest.from_json(text)


def write_manifest(meta: MetaTable, manifest: Manifest) -> None:
    """Store ``manifest`` durably: the caller deletes older vector files right after, so it must not be
    lost on power failure while SQLite still points at a file that is gone."""
    meta.set_meta(MANIFEST_KEY, manifest.to_json(), durable=True)
