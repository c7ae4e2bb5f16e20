"""The site side of federated fine-tuning: a Flower ``ClientApp`` that trains on the site's own pairs.

Each train message brings the global trainable weights (ArrayRecord ``arrays``) and the run's
:class:`TrainingConfig` as JSON (ConfigRecord ``config``, key ``training-config``). The site trains on
its own pairs file, evaluates on its own validation pairs and replies with its new weights (or, in
adaptive mode, possibly an empty record), a MetricRecord ``metrics`` (``num-examples``, ``uploaded``,
``train-loss``, ``val-mrr@10``, ``val-recall@1``, ``seconds``) and a ConfigRecord ``site``
(``site-id``, ``reason``). With local DP, Flower's ``LocalDpMod`` clips and noises the reply.

This module never imports the coordinator's (``server_app``); nothing but weights and metrics leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_fed.errors import TrainingError
from rag_fed.training.adaptive import UploadHistory, decide_upload, layer_update_norms
from rag_fed.training.model import evaluate, get_named_weights, load_model, set_weights, train_local
from rag_fed.training.pairs import load_pairs
from rag_fed.training.privacy import local_dp_mod
from rag_fed.training.settings import INSTRUCTION_CONFIG_KEY, PrivacySettings, TrainingConfig

if TYPE_CHECKING:
    from flwr.app import Context, Message
    from flwr.clientapp import ClientApp
    from sentence_transformers import SentenceTransformer

__all__ = ["SiteBinding", "SiteResolver", "build_client_app", "site_from_node_config", "sites_by_partition"]

_HISTORY_KEY = "adaptive-history"


@dataclass(frozen=True)
class SiteBinding:
    """Which site a ClientApp instance serves and where that site's pairs file is."""

    site_id: str
    pairs_path: Path


SiteResolver = Callable[["Context"], SiteBinding]


def site_from_node_config(context: Context) -> SiteBinding:
    """Deployment: ``flower-supernode --node-config 'site-id="plant-a" pairs-path="/data/a/pairs.jsonl"'``."""
    config = context.node_config
    site_id, pairs_path = config.get("site-id"), config.get("pairs-path")
    if not isinstance(site_id, str) or not isinstance(pairs_path, str):
        raise TrainingError("the SuperNode needs node config 'site-id' and 'pairs-path' (strings)")
    return SiteBinding(site_id, Path(pairs_path))


def sites_by_partition(sites: Mapping[str, Path]) -> SiteResolver:
    """Simulation: virtual node with ``partition-id`` i serves the i-th site in sorted id order."""
    bindings = tuple(SiteBinding(site_id, Path(sites[site_id])) for site_id in sorted(sites))

    def resolve(context: Context) -> SiteBinding:
        partition = context.node_config.get("partition-id")
        if not isinstance(partition, int) or not 0 <= partition < len(bindings):
            raise TrainingError(f"no site for simulation partition {partition!r}")
        return bindings[partition]

    return resolve


def build_client_app(resolve_site: SiteResolver, privacy: PrivacySettings | None = None) -> ClientApp:
    """A ClientApp whose train handler fine-tunes locally; with ``privacy``, updates get local DP."""
    from flwr.clientapp import ClientApp

    app = ClientApp()
    train_mods = [local_dp_mod(privacy)] if privacy is not None else []

    @app.train(mods=train_mods)
    def train(message: Message, context: Context) -> Message:
        return _train(message, context, resolve_site(context))

    @app.evaluate()
    def evaluate_global(message: Message, context: Context) -> Message:
        return _evaluate(message, resolve_site(context))

    return app


def _train(message: Message, context: Context, site: SiteBinding) -> Message:
    from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

    config, global_arrays = _parse_instruction(message)
    model = _model_with(config, global_arrays)
    split = load_pairs(site.pairs_path)
    train_pairs = split.train[: config.max_train_pairs] if config.max_train_pairs else split.train
    server_round = int(message.content["config"].get("server-round", 1))  # type: ignore[arg-type]
    result = train_local(
        model,
        train_pairs,
        epochs=config.local_epochs,
        lr=config.learning_rate,
        batch_size=config.batch_size,
        proximal_mu=float(message.content["config"].get("proximal-mu", 0.0)),  # type: ignore[arg-type]
        seed=config.seed + server_round,
    )
    scores = evaluate(model, split.val[: config.max_val_pairs])
    new_arrays = get_named_weights(model)
    upload, reason = True, "full participation"
    if config.adaptive is not None:
        stored = context.state.config_records.get(_HISTORY_KEY)
        history = UploadHistory.from_json(str(stored["json"])) if stored else UploadHistory()
        norms = layer_update_norms(new_arrays, new_arrays.values(), global_arrays.values())
        decision = decide_upload(config.adaptive, history, scores["mrr@10"], norms)
        context.state[_HISTORY_KEY] = ConfigRecord({"json": decision.history.to_json()})
        upload, reason = decision.upload, decision.reason
    arrays = ArrayRecord({n: Array(v) for n, v in new_arrays.items()}) if upload else ArrayRecord()
    metrics = MetricRecord(
        {
            "num-examples": result.num_examples,
            "uploaded": int(upload),
            "train-loss": result.loss,
            "val-mrr@10": scores["mrr@10"],
            "val-recall@1": scores["recall@1"],
            "seconds": result.seconds,
        }
    )
    site_record = ConfigRecord({"site-id": site.site_id, "reason": reason})
    content = RecordDict({"arrays": arrays, "metrics": metrics, "site": site_record})
    return _reply(content, message)


def _evaluate(message: Message, site: SiteBinding) -> Message:
    from flwr.app import ConfigRecord, MetricRecord, RecordDict

    config, global_arrays = _parse_instruction(message)
    model = _model_with(config, global_arrays)
    val = load_pairs(site.pairs_path).val[: config.max_val_pairs]
    scores = evaluate(model, val)
    metrics = MetricRecord(
        {"num-examples": len(val), "val-mrr@10": scores["mrr@10"], "val-recall@1": scores["recall@1"]}
    )
    content = RecordDict({"metrics": metrics, "site": ConfigRecord({"site-id": site.site_id})})
    return _reply(content, message)


def _parse_instruction(message: Message) -> tuple[TrainingConfig, dict[str, Any]]:
    """Typed config and named global arrays out of Flower's string-keyed records."""
    record_of_config = message.content.config_records.get("config")
    raw = record_of_config.get(INSTRUCTION_CONFIG_KEY) if record_of_config is not None else None
    if not isinstance(raw, str):
        raise TrainingError(f"no '{INSTRUCTION_CONFIG_KEY}' in the instruction; is the coordinator rag-fed?")
    config = TrainingConfig.model_validate_json(raw)
    record = message.content.array_records.get("arrays")
    if record is None:
        raise TrainingError("the instruction carries no global weights ('arrays')")
    return config, {name: array.numpy() for name, array in record.items()}


def _model_with(config: TrainingConfig, arrays: Mapping[str, Any]) -> SentenceTransformer:
    import torch

    torch.set_num_threads(config.torch_threads)
    model = _cached_model(config.base_model, config.max_seq_length, config.train_top_layers)
    names = list(get_named_weights(model))
    if names != list(arrays):
        raise TrainingError("the global weights do not match this site's model; check base_model")
    set_weights(model, [arrays[name] for name in names])
    return model


@lru_cache(maxsize=1)
def _cached_model(base_model: str, max_seq_length: int, top_layers: int | None) -> SentenceTransformer:
    # Frozen tensors never change and trainable ones are overwritten every round, so one loaded
    # model per worker process serves every round (and every site the process simulates).
    return load_model(base_model, max_seq_length, top_layers)


def _reply(content: Any, message: Message) -> Message:
    from flwr.app import Message

    return Message(content, reply_to=message)
