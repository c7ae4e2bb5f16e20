"""An ``Embedder`` backed by a local sentence-transformers model folder, run on CPU with no hub access."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from rag_fed.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["WEIGHT_SUFFIXES", "SentenceTransformerEmbedder", "weights_digest"]

# Files whose bytes are the model's weights; configs and tokenizers are left out of the version on
# purpose, so re-saving a model with a newer library (which rewrites its JSON files) keeps its version.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx")

_VERSION_HEX_CHARS = 12
_READ_CHUNK_BYTES = 1 << 20


class SentenceTransformerEmbedder:
    """Embeds texts with the sentence-transformers model saved at ``model_path``.

    ``model_version`` is ``<folder name>@<digest of the weight files>``: a fine-tuned copy saved with
    :meth:`save` gets a new version, so vectors from two versions are never mixed in one index. The
    version describes the weights as loaded; after training ``model`` in place, save it and load the
    saved folder to get an embedder whose version matches its weights.
    """

    def __init__(self, model_path: Path, batch_size: int = 64, max_seq_length: int = 256) -> None:
        if batch_size < 1 or max_seq_length < 1:
            raise ModelError(f"batch_size and max_seq_length must be positive, got {batch_size} and {max_seq_length}")
        self._path = Path(model_path)
        self._batch_size = batch_size
        self._model = _load_model(self._path)
        self._model.max_seq_length = max_seq_length
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelError(f"the model at {self._path} does not report its embedding dimension")
        self._dim = int(dim)
        self._version = f"{self._path.name}@{weights_digest(self._path)[:_VERSION_HEX_CHARS]}"

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_version(self) -> str:
        return self._version

    @property
    def path(self) -> Path:
        """The folder the weights were loaded from."""
        return self._path

    @property
    def model(self) -> SentenceTransformer:
        """The underlying model, for fine-tuning. Changing it does not change ``model_version``."""
        return self._model

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Return one L2-normalised float32 row per text, shape ``(len(texts), dim)``."""
        if isinstance(texts, str):
            # A bare string is a sequence of characters: refuse it rather than embed each letter.
            raise TypeError("embed() takes a sequence of texts, not a single str")
        if len(texts) == 0:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def save(self, path: Path) -> None:
        """Write the model (weights, config, tokenizer) to ``path``, loadable by this class."""
        try:
            self._model.save(str(path), safe_serialization=True)
        except OSError as error:
            raise ModelError(f"could not save the embedder to {path}: {error}") from error


def weights_digest(model_path: Path) -> str:
    """SHA-256 over every weight file under ``model_path`` (relative names and bytes, sorted)."""
    files = sorted(p for p in model_path.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise ModelError(f"no weight files ({', '.join(WEIGHT_SUFFIXES)}) found under {model_path}")
    digest = hashlib.sha256()
    for file in files:
        # The name goes in too, so moving a tensor file between sub-modules changes the digest.
        digest.update(file.relative_to(model_path).as_posix().encode())
        digest.update(b"\0")
        with file.open("rb") as stream:
            while chunk := stream.read(_READ_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def _load_model(model_path: Path) -> SentenceTransformer:
    if not (model_path / "modules.json").is_file() and not (model_path / "config.json").is_file():
        raise ModelError(
            f"{model_path} is not a sentence-transformers model folder (no modules.json or config.json); "
            "set embedder.model to 'packaged' or to such a folder"
        )
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ModelError("the embedder needs sentence-transformers: pip install sentence-transformers") from error
    try:
        # local_files_only: no hub is reachable, and a missing file must fail now, not after a timeout.
        return SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelError(f"could not load the embedding model at {model_path}: {error}") from error
