"""The vector files of a site store: their names, checked loading, and removal of superseded ones.

A checkpoint writes ``vectors.<commit_seq>.faiss`` (``vectors.<commit_seq>-<n>.faiss`` when a file for
that ``commit_seq`` is already current, e.g. after the index kind changed), so the file the manifest
names is never overwritten in place: a crash at any point leaves the manifest's file intact.
"""

from __future__ import annotations

import re
from pathlib import Path

from indexes._fsio import fsync_dir, sha256_file
from indexes.errors import IndexCorruptError
from indexes.faiss_index import FaissVectorIndex
from indexes.manifest import Manifest

__all__ = [
    "is_vector_file",
    "load_checked",
    "next_vector_file_name",
    "remove_vector_files",
    "vector_file_problem",
]

_VECTOR_FILE = re.compile(r"^vectors\.\d+(-\d+)?\.faiss(\.tmp)?$")


def is_vector_file(name: str) -> bool:
    return _VECTOR_FILE.match(name) is not None


def next_vector_file_name(commit_seq: int, current: str) -> str:
    name, suffix = f"vectors.{commit_seq}.faiss", 0
    while name == current:
        suffix += 1
        name = f"vectors.{commit_seq}-{suffix}.faiss"
    return name


def remove_vector_files(directory: Path, keep: str) -> list[str]:
    """Delete every vector file (and leftover temp file) but ``keep``; return the names removed."""
    removed = [path.name for path in directory.iterdir() if is_vector_file(path.name) and path.name != keep]
    for name in removed:
        (directory / name).unlink(missing_ok=True)
    if removed:
        fsync_dir(directory)
    return removed


def vector_file_problem(directory: Path, manifest: Manifest) -> str | None:
    """Why the manifest's vector file cannot be trusted (missing, altered), or ``None`` if it can."""
    path = directory / manifest.vector_file
    if not path.is_file():
        return f"vector file {path} named by the store manifest is missing"
    digest = sha256_file(path)
    if digest != manifest.vector_sha256:
        return (
            f"vector file {path} does not match its checksum (sha256 {digest[:12]}..., the manifest"
            f" expects {manifest.vector_sha256[:12]}...)"
        )
    return None


def load_checked(directory: Path, manifest: Manifest, rebuild_hint: str) -> FaissVectorIndex:
    """Load the manifest's vector file, refusing a missing, altered or mismatched one."""
    path = directory / manifest.vector_file
    problem = vector_file_problem(directory, manifest)
    if problem is not None:
        raise IndexCorruptError(f"{problem}; {rebuild_hint}")
    try:
        index = FaissVectorIndex.load(path)
    except IndexCorruptError as exc:
        raise IndexCorruptError(f"{exc}; {rebuild_hint}") from exc
    if index.dim != manifest.dim or index.count != manifest.vector_count:
        raise IndexCorruptError(
            f"vector file {path} holds {index.count} vectors of dim {index.dim}, the manifest says"
            f" {manifest.vector_count} of dim {manifest.dim}; {rebuild_hint}"
        )
    return index
