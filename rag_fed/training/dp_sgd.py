"""DP-SGD inside a site: per-example gradient clipping and Gaussian noise from Opacus.

Each example (a query, its positive and its own hard negatives) is scored by the per-example loss of
``rag_fed.training.model``, so its gradient depends on it alone. Opacus's ``GradSampleModule`` computes
that gradient for every example of a batch, its ``DPOptimizer`` clips each to L2 norm ``C`` (the run's
``clipping_norm``), sums them, adds Gaussian noise of std ``noise_multiplier * C`` and takes an AdamW
step. Batches are drawn by Poisson sampling (each pair joins a step with probability ``batch_size / n``,
``ceil(n / batch_size)`` steps an epoch), the sampling the accountant's amplification assumes. Examples of
a batch may have different numbers of negatives: missing ones are padded and masked out of the softmax.

The guarantee is about one training pair of the site: (epsilon, delta) by Opacus's RDP accountant over
every step of every round (``rag_fed.training.privacy``). A question with several accepted passages gives
several pairs, so its guarantee is that of a group of that size.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag_fed.config import PrivacySettings
from rag_fed.errors import TrainingError
from rag_fed.training.pairs import TrainingPair

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import Tensor

__all__ = ["DpSgdResult", "noise_for_target_epsilon", "sample_rate", "steps_per_epoch", "train_dp_sgd"]

# Cosine x 20, as the non-private per-example loss (rag_fed.training.model).
_SCALE = 20.0


@dataclass(frozen=True)
class DpSgdResult:
    """What a DP-SGD pass did: the numbers the accountant needs, and evidence that clipping applied."""

    loss: float
    steps: int
    sample_rate: float
    num_examples: int
    seconds: float
    clipped_fraction: float  # share of the per-example gradients whose norm exceeded the clipping norm
    max_clipped_mean_norm: float  # largest L2 norm of a step's clipped gradient sum over its batch size (<= C)
    largest_batch: int


def sample_rate(num_pairs: int, batch_size: int) -> float:
    """Poisson sampling rate of one pair in one step."""
    if num_pairs < 1:
        raise TrainingError("DP-SGD needs at least one training pair")
    return min(1.0, batch_size / num_pairs)


def steps_per_epoch(num_pairs: int, batch_size: int) -> int:
    return max(1, math.ceil(num_pairs / batch_size))


def noise_for_target_epsilon(
    target_epsilon: float, delta: float, num_pairs: int, batch_size: int, epochs: int, rounds: int
) -> float:
    """Opacus's ``get_noise_multiplier`` (RDP) for a site of ``num_pairs`` pairs over every step of the run.

    Sampling rate and step count both depend on ``num_pairs`` (a site of 164 pairs at batch 32 takes 6
    steps at rate 0.195, one of 156 takes 5 at 0.205, and the first spends more): for one noise level that
    keeps every site at or under the target, take the largest over the sites' pair counts."""
    from opacus.accountants.utils import get_noise_multiplier

    if target_epsilon <= 0 or rounds < 1 or epochs < 1:
        raise TrainingError("target epsilon must be > 0, rounds and local epochs >= 1")
    steps = steps_per_epoch(num_pairs, batch_size) * epochs * rounds
    return float(
        get_noise_multiplier(
            target_epsilon=target_epsilon,
            target_delta=delta,
            sample_rate=sample_rate(num_pairs, batch_size),
            steps=steps,
            accountant="rdp",
        )
    )


def train_dp_sgd(
    model: SentenceTransformer,
    pairs: Sequence[TrainingPair],
    *,
    privacy: PrivacySettings,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int = 0,
) -> DpSgdResult:
    """Fine-tune ``model`` in place with DP-SGD (see the module docstring); its hooks are removed after."""
    import torch
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    if not pairs:
        raise TrainingError("DP-SGD needs at least one training pair")
    if any(not pair.negatives for pair in pairs):
        raise TrainingError(
            "DP-SGD trains each pair against its own hard negatives, and some pairs have none (pairs mined "
            "from documents): set training.pairs.source = 'feedback' with training.pairs.hard_negatives >= 1"
        )
    started = time.perf_counter()
    torch.manual_seed(seed)
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if not parameters:
        raise TrainingError("the model has no trainable tensors")
    wrapped = GradSampleModule(model, batch_first=True, loss_reduction="mean")
    generator = torch.Generator().manual_seed(seed)
    optimizer = DPOptimizer(
        torch.optim.AdamW(parameters, lr=lr),
        noise_multiplier=privacy.noise_multiplier,
        max_grad_norm=privacy.clipping_norm,
        expected_batch_size=batch_size,
        loss_reduction="mean",
        generator=generator,
    )
    rate, per_epoch = sample_rate(len(pairs), batch_size), steps_per_epoch(len(pairs), batch_size)
    draw = random.Random(seed)
    total, steps, clipped, seen, max_mean, largest = 0.0, 0, 0, 0, 0.0, 0
    model.train()
    try:
        for _ in range(epochs * per_epoch):
            batch = [pair for pair in pairs if draw.random() < rate]
            optimizer.zero_grad(set_to_none=True)
            if batch:
                value = _padded_per_example_loss(wrapped, model, batch).mean()
                torch.autograd.backward(value)
                norms = _per_example_norms(parameters)
                clipped += int((norms > privacy.clipping_norm).sum())
                seen += len(batch)
                total += float(value.detach())
                largest = max(largest, len(batch))
            else:
                # An empty draw is still a step of the mechanism: noise only (Opacus's own convention).
                for parameter in parameters:
                    setattr(parameter, "grad_sample", torch.zeros((0, *parameter.shape)))  # noqa: B010
            optimizer.step()
            if batch:
                max_mean = max(max_mean, _summed_clipped_norm(parameters) / len(batch))
            steps += 1
    finally:
        optimizer.zero_grad(set_to_none=True)
        wrapped._close()
        model.eval()
    return DpSgdResult(
        loss=total / max(1, steps),
        steps=steps,
        sample_rate=rate,
        num_examples=len(pairs),
        seconds=time.perf_counter() - started,
        clipped_fraction=clipped / seen if seen else 0.0,
        max_clipped_mean_norm=max_mean,
        largest_batch=largest,
    )


def _padded_per_example_loss(wrapped: Any, model: SentenceTransformer, batch: Sequence[TrainingPair]) -> Tensor:
    """Each query's cross-entropy over its own positive and negatives; absent negatives masked out."""
    import torch

    width = max(len(pair.negatives) for pair in batch)
    columns = [[pair.query for pair in batch], [pair.positive for pair in batch]]
    columns += [[pair.negatives[i] if i < len(pair.negatives) else "" for pair in batch] for i in range(width)]
    present = torch.tensor([[True] * 2 + [i < len(pair.negatives) for i in range(width)] for pair in batch])
    queries, *passages = (
        torch.nn.functional.normalize(wrapped(model.preprocess(column))["sentence_embedding"], dim=-1)
        for column in columns
    )
    candidates = torch.stack(passages, dim=1)
    scores = _SCALE * torch.einsum("bd,bcd->bc", queries, candidates)
    scores = scores.masked_fill(~present[:, 1:], float("-inf"))
    return torch.nn.functional.cross_entropy(scores, torch.zeros(len(batch), dtype=torch.long), reduction="none")


def _per_example_norms(parameters: Sequence[Any]) -> Tensor:
    import torch

    per_tensor = [p.grad_sample.reshape(len(p.grad_sample), -1).norm(2, dim=-1) for p in parameters]
    norms: Tensor = torch.stack(per_tensor, dim=1).norm(2, dim=1)
    return norms


def _summed_clipped_norm(parameters: Sequence[Any]) -> float:
    """L2 norm of the step's sum of clipped per-example gradients (Opacus keeps it in ``summed_grad``)."""
    squares = [float((p.summed_grad**2).sum()) for p in parameters if getattr(p, "summed_grad", None) is not None]
    return math.sqrt(sum(squares))
