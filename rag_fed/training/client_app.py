"""The site side of federated fine-tuning: a Flower ``ClientApp`` that trains on the site's own pairs.

Each train message brings the global trainable weights (ArrayRecord ``arrays``) and the run's
:class:`TrainingSettings` as JSON (ConfigRecord ``config``, key ``training-config``). The site trains on
its own pairs file, evaluates on its own validation pairs and replies with its new weights (or, in
adaptive mode, possibly an empty record), a MetricRecord ``metrics`` (``num-examples``, ``uploaded``,
``train-loss``, ``val-mrr@10``, ``val-recall@1``, ``seconds``) and a ConfigRecord ``site``
(``site-id``, ``reason``). With local DP, Flower's ``LocalDpMod`` clips and noises the reply; with
DP-SGD the site trains with Opacus (``rag_fed.training.dp_sgd``) and adds ``dp-steps``,
``dp-sample-rate`` (what the coordinator's accountant charges) and ``dp-clipped-fraction`` to its metrics.

Under secure aggregation the coordinator speaks Flower's legacy shape (``fitins.parameters`` /
``fitins.config``, see :mod:`rag_fed.training.secure_aggregation`): ``secaggplus_mod`` runs the SecAgg+
stages, calls the handler once per round, and masks the ``fitres.parameters`` it answers with.

This module never imports the coordinator's (``server_app``); nothing but weights and metrics leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from numpy.typing import NDArray

from rag_fed.config import PrivacySettings, TrainingSettings
from rag_fed.errors import TrainingError
from rag_fed.training.adaptive import UploadHistory, decide_upload, layer_update_norms
from rag_fed.training.dp_sgd import train_dp_sgd
from rag_fed.training.instruction import INSTRUCTION_CONFIG_KEY
from rag_fed.training.model import (
    LocalTrainResult,
    evaluate,
    get_named_weights,
    load_model,
    set_weights,
    train_local,
)
from rag_fed.training.pairs import load_pairs
from rag_fed.training.privacy import DP_SAMPLE_RATE_METRIC, DP_STEPS_METRIC, local_dp_mod

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, Context, Message, RecordDict
    from flwr.clientapp import ClientApp
    from sentence_transformers import SentenceTransformer

__all__ = ["SiteBinding", "SiteResolver", "build_client_app", "site_from_node_config", "sites_by_partition"]

_HISTORY_KEY = "adaptive-history"
# Flower's SecAgg+ records (flwr.common.secure_aggregation.secaggplus_constants) and legacy fit records.
_SECAGG_CONFIGS = "secaggplus_configs"
_LEGACY_CONFIG = "fitins.config"
_LEGACY_PARAMETERS = "fitins.parameters"


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
    """A ClientApp whose train handler fine-tunes locally.

    Local DP and SecAgg+ are chosen per message by the run's :class:`TrainingSettings` (so one site
    binary serves every kind of run); ``privacy`` makes the site insist on its own DP settings
    whatever the coordinator asks. Flower's ``LocalDpMod`` runs innermost, so under SecAgg+ the
    site's update is clipped and noised before ``secaggplus_mod`` masks it."""
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.train()
    def train(message: Message, context: Context) -> Message:
        site = resolve_site(context)
        if _SECAGG_CONFIGS in message.content.config_records:
            from flwr.client.mod import secaggplus_mod

            return secaggplus_mod(message, context, _private_training(site, privacy))
        return _private_training(site, privacy)(message, context)

    @app.evaluate()
    def evaluate_global(message: Message, context: Context) -> Message:
        return _evaluate(message, resolve_site(context))

    return app


def _private_training(site: SiteBinding, enforced: PrivacySettings | None) -> Callable[[Message, Context], Message]:
    """The train handler, wrapped in Flower's LocalDpMod when the run (or the site) wants local DP."""

    def with_privacy(message: Message, context: Context) -> Message:
        privacy = enforced or _parse_instruction(message).config.privacy

        def handler(message: Message, context: Context) -> Message:
            return _train(message, context, site, privacy)

        if privacy is None or privacy.mode == "dp_sgd":
            return handler(message, context)
        return cast("Message", local_dp_mod(privacy)(message, context, handler))

    return with_privacy


def _train(message: Message, context: Context, site: SiteBinding, privacy: PrivacySettings | None) -> Message:
    from flwr.app import ConfigRecord, MetricRecord, RecordDict

    instruction = _parse_instruction(message)
    config, global_arrays = instruction.config, instruction.arrays
    model = _model_with(config, global_arrays)
    split = load_pairs(site.pairs_path)
    train_pairs = split.train[: config.max_train_pairs] if config.max_train_pairs else split.train
    server_round = int(instruction.options.get("server-round", 1))
    private: dict[str, float] = {}
    if privacy is not None and privacy.mode == "dp_sgd":
        dp_result = train_dp_sgd(
            model,
            train_pairs,
            privacy=privacy,
            epochs=config.local_epochs,
            lr=config.learning_rate,
            batch_size=config.batch_size,
            seed=config.seed + server_round,
        )
        private = {
            DP_STEPS_METRIC: dp_result.steps,
            DP_SAMPLE_RATE_METRIC: dp_result.sample_rate,
            "dp-clipped-fraction": dp_result.clipped_fraction,
        }
        result = LocalTrainResult(dp_result.loss, dp_result.steps, dp_result.num_examples, dp_result.seconds)
    else:
        result = train_local(
            model,
            train_pairs,
            epochs=config.local_epochs,
            lr=config.learning_rate,
            batch_size=config.batch_size,
            proximal_mu=float(instruction.options.get("proximal-mu", 0.0)),
            seed=config.seed + server_round,
            loss=config.loss,
        )
    scores = evaluate(model, split.val[: config.max_val_pairs])
    new_arrays = get_named_weights(model)
    upload, reason = True, "full participation"
    if config.adaptive_uploads:
        stored = context.state.config_records.get(_HISTORY_KEY)
        history = UploadHistory.from_json(str(stored["json"])) if stored else UploadHistory()
        norms = layer_update_norms(new_arrays, new_arrays.values(), global_arrays.values())
        decision = decide_upload(config.adaptive, history, scores["mrr@10"], norms)
        context.state[_HISTORY_KEY] = ConfigRecord({"json": decision.history.to_json()})
        upload, reason = decision.upload, decision.reason
    numbers: dict[str, int | float | list[int] | list[float]] = {
        "num-examples": result.num_examples,
        "uploaded": int(upload),
        "train-loss": result.loss,
        "val-mrr@10": scores["mrr@10"],
        "val-recall@1": scores["recall@1"],
        "seconds": result.seconds,
        **private,
    }
    site_record = ConfigRecord({"site-id": site.site_id, "reason": reason})
    content = RecordDict({"metrics": MetricRecord(numbers), "site": site_record})
    if instruction.legacy:
        _add_legacy_fit_result(content, list(new_arrays.values()), site.site_id)
    else:
        content["arrays"] = _array_record(new_arrays if upload else {})
    return _reply(content, message)


def _add_legacy_fit_result(content: RecordDict, weights: list[NDArray[Any]], site_id: str) -> None:
    """The reply shape ``secaggplus_mod`` reads (Flower's legacy ``FitRes`` records), keyed as the
    instruction's ``fitins.parameters`` so that ``LocalDpMod`` can pair each tensor with the one sent.
    ``num_examples`` is 1: SecAgg+ weighs sites equally (see ``SecureAggregationSettings``)."""
    from flwr.app import ConfigRecord, MetricRecord

    content["fitres.parameters"] = _array_record({str(i): weight for i, weight in enumerate(weights)})
    content["fitres.num_examples"] = MetricRecord({"num_examples": 1})
    content["fitres.metrics"] = ConfigRecord({"site-id": site_id})
    content["fitres.status"] = ConfigRecord({"code": 0, "message": "ok"})


def _evaluate(message: Message, site: SiteBinding) -> Message:
    from flwr.app import ConfigRecord, MetricRecord, RecordDict

    instruction = _parse_instruction(message)
    config = instruction.config
    model = _model_with(config, instruction.arrays)
    val = load_pairs(site.pairs_path).val[: config.max_val_pairs]
    scores = evaluate(model, val)
    metrics = MetricRecord(
        {"num-examples": len(val), "val-mrr@10": scores["mrr@10"], "val-recall@1": scores["recall@1"]}
    )
    content = RecordDict({"metrics": metrics, "site": ConfigRecord({"site-id": site.site_id})})
    return _reply(content, message)


@dataclass(frozen=True)
class _Instruction:
    """A train/evaluate message parsed: typed config, named global weights, round options, and
    whether it came in Flower's legacy ``fitins`` shape (the SecAgg+ path)."""

    config: TrainingSettings
    arrays: dict[str, NDArray[Any]]
    options: Mapping[str, float | int]
    legacy: bool


def _parse_instruction(message: Message) -> _Instruction:
    """Typed config and named global arrays out of Flower's string-keyed records."""
    content = message.content
    legacy = _LEGACY_CONFIG in content.config_records
    record_of_config = content.config_records.get(_LEGACY_CONFIG if legacy else "config")
    raw = record_of_config.get(INSTRUCTION_CONFIG_KEY) if record_of_config is not None else None
    if record_of_config is None or not isinstance(raw, str):
        raise TrainingError(f"no '{INSTRUCTION_CONFIG_KEY}' in the instruction; is the coordinator rag-fed?")
    config = TrainingSettings.model_validate_json(raw)
    options = {k: v for k, v in record_of_config.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    record = content.array_records.get(_LEGACY_PARAMETERS if legacy else "arrays")
    if record is None:
        raise TrainingError("the instruction carries no global weights ('arrays')")
    if legacy:
        # Legacy parameters carry no names: they come in the order of the model's trainable tensors.
        names = list(
            get_named_weights(_cached_model(config.base_model, config.max_seq_length, config.train_top_layers))
        )
        values = [record[key].numpy() for key in record]
        if len(values) != len(names):
            raise TrainingError("the global weights do not match this site's model; check base_model")
        return _Instruction(config, dict(zip(names, values, strict=True)), options, legacy)
    return _Instruction(config, {name: array.numpy() for name, array in record.items()}, options, legacy)


def _model_with(config: TrainingSettings, arrays: Mapping[str, Any]) -> SentenceTransformer:
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


def _array_record(arrays: Mapping[str, NDArray[Any]]) -> ArrayRecord:
    from flwr.app import Array, ArrayRecord

    return ArrayRecord({name: Array(value) for name, value in arrays.items()})


def _reply(content: Any, message: Message) -> Message:
    from flwr.app import Message

    return Message(content, reply_to=message)
