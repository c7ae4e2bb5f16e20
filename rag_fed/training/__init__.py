"""Federated fine-tuning of the embedder with Flower: pair mining, local training, the site's
ClientApp, the coordinator's ServerApp, the round ledger, unlearning and the simulation runner.

Import from the submodules: the site side (``client_app``) and the coordinator side (``server_app``,
``unlearning``, ``run``) are kept apart, so importing this package loads neither.
"""

from rag_fed.config import AdaptiveSettings, PrivacySettings, TrainingSettings
from rag_fed.training.pairs import (
    TrainingChunk,
    TrainingPair,
    load_pairs,
    mine_pairs,
    save_pairs,
    split_pairs,
)

__all__ = [
    "AdaptiveSettings",
    "PrivacySettings",
    "TrainingChunk",
    "TrainingPair",
    "TrainingSettings",
    "load_pairs",
    "mine_pairs",
    "save_pairs",
    "split_pairs",
]
