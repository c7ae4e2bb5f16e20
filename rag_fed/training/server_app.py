"""The coordinator side of federated fine-tuning: a Flower ``ServerApp`` that runs rounds over a run dir.

The run directory (see :mod:`rag_fed.training.ledger`) must already hold the manifest (config, base
model, trainable tensor names) and the checkpoint the first round starts from; the ServerApp appends
one checkpoint and one ledger record per round. It drives Flower's strategy round by round
(``configure_train`` -> ``Grid.send_and_receive`` -> ``aggregate_train``) instead of calling
``Strategy.start``, because each round must be recorded (who took part, bytes, epsilon) and "no
update" replies of adaptive mode must be kept out of the aggregate.

Who "took part": every site whose update was handed to the aggregator, even if a robust rule (Krum,
median) then discarded it, since it still shaped the choice; unlearning relies on this being a
superset. This module never imports the site's (``client_app``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_fed.config import TrainingSettings
from rag_fed.errors import TrainingError
from rag_fed.training.adaptive import quorum_reached
from rag_fed.training.instruction import INSTRUCTION_CONFIG_KEY, instruction_json
from rag_fed.training.ledger import Ledger, RoundRecord
from rag_fed.training.privacy import SitePrivacyAccountant
from rag_fed.training.strategies import strategy_from_config

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, Context, Message
    from flwr.serverapp import Grid, ServerApp

__all__ = ["ServerPlan", "build_server_app", "build_server_app_from_run_config", "run_rounds"]


@dataclass(frozen=True)
class ServerPlan:
    """Run rounds ``first_round..last_round`` in ``run_dir``, starting from checkpoint ``first_round-1``."""

    run_dir: Path
    first_round: int
    last_round: int
    evaluate_final: bool = True
    on_round: Callable[[RoundRecord], None] | None = None


def build_server_app(plan: ServerPlan) -> ServerApp:
    from flwr.serverapp import ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        run_rounds(grid, plan)

    return app


def build_server_app_from_run_config() -> ServerApp:
    """Deployment: ``flwr run`` with run config ``run-dir``, ``first-round``, ``last-round``."""
    from flwr.serverapp import ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        config = context.run_config
        run_dir, first, last = config.get("run-dir"), config.get("first-round", 1), config.get("last-round")
        if not isinstance(run_dir, str) or not isinstance(first, int) or not isinstance(last, int):
            raise TrainingError("run config needs 'run-dir' (string) and 'first-round'/'last-round' (ints)")
        run_rounds(grid, ServerPlan(Path(run_dir), first, last))

    return app


def run_rounds(grid: Grid, plan: ServerPlan) -> None:
    """Train ``plan``'s rounds, checkpointing and recording each; then evaluate the result at the sites."""
    ledger = Ledger.open(plan.run_dir)
    manifest = ledger.manifest
    config = manifest.settings()
    names = manifest.trainable_names
    strategy = strategy_from_config(config)
    current = ledger.load_checkpoint(plan.first_round - 1)
    accountant = SitePrivacyAccountant(config.privacy) if config.privacy else None
    if accountant is not None:
        for earlier in ledger.rounds:
            if earlier.round < plan.first_round:
                accountant.record_round(earlier.sites, earlier.metrics)
    for server_round in range(plan.first_round, plan.last_round + 1):
        current, record = _run_round(grid, server_round, strategy, config, names, current)
        if accountant is not None:
            record.epsilon = accountant.record_round(record.sites, record.metrics)
        record.checkpoint, record.checkpoint_sha256 = ledger.save_checkpoint(server_round, current)
        ledger.append(record)
        if plan.on_round is not None:
            plan.on_round(record)
    if plan.evaluate_final:
        ledger.save_evaluation(_evaluate_at_sites(grid, config, current))


def _run_round(
    grid: Grid,
    server_round: int,
    strategy: Any,
    config: TrainingSettings,
    names: list[str],
    current: dict[str, Any],
) -> tuple[dict[str, Any], RoundRecord]:
    from flwr.app import ConfigRecord

    sent = _to_record(current)
    instruction = ConfigRecord({INSTRUCTION_CONFIG_KEY: instruction_json(config)})
    messages = list(strategy.configure_train(server_round, sent, instruction, grid))
    if config.secure_aggregation:
        return _run_secure_round(grid, server_round, strategy, config, names, current, messages)
    replies = list(grid.send_and_receive(messages, timeout=config.round_timeout_s))
    summary = _summarise(replies)
    summary.failed.extend(f"no-reply-{i}" for i in range(len(messages) - len(replies)))
    if messages and not summary.metrics:
        # Every site failed: going on would only repeat the failure with unchanged weights.
        raise TrainingError(f"round {server_round}: no site finished training: {'; '.join(summary.failed)}")
    if config.adaptive_uploads:
        enough = quorum_reached(len(summary.uploads), len(messages), config.adaptive.min_report_fraction)
    else:
        enough = bool(summary.uploads)
    aggregated = None
    if enough:
        aggregated, _ = strategy.aggregate_train(server_round, [reply for _, reply in summary.uploads])
    if aggregated is not None:
        current = {name: aggregated[name].numpy() for name in names}
    contributors = sorted(site for site, _ in summary.uploads) if aggregated is not None else []
    full_bytes = sent.count_bytes()
    record = RoundRecord(
        round=server_round,
        sites=contributors,
        skipped=sorted(set(summary.metrics) - set(contributors)),
        failed=summary.failed,
        aggregated=aggregated is not None,
        metrics=summary.metrics,
        bytes_uploaded=summary.bytes_uploaded,
        bytes_saved=full_bytes * sum(1 for b in summary.bytes_uploaded.values() if b == 0),
        checkpoint="",
        checkpoint_sha256="",
    )
    return current, record


def _run_secure_round(
    grid: Grid,
    server_round: int,
    strategy: Any,
    config: TrainingSettings,
    names: list[str],
    current: dict[str, Any],
    messages: list[Message],
) -> tuple[dict[str, Any], RoundRecord]:
    """SecAgg+ over the sites Flower's strategy sampled; the strategy then aggregates the one
    securely computed mean (FedAvg/FedProx keep it, FedAdam steps its server optimiser towards it)."""
    from flwr.app import Message, MetricRecord, RecordDict

    from rag_fed.training.secure_aggregation import run_secure_round

    config_record = messages[0].content.config_records.get("config") if messages else None
    options = {
        key: value
        for key, value in (config_record or {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool) and key != "server-round"
    }
    node_ids = [message.metadata.dst_node_id for message in messages]
    result = run_secure_round(grid, server_round, node_ids, config, names, current, options)
    if result.mean is None:
        raise TrainingError(
            f"round {server_round}: secure aggregation halted (too few sites finished every SecAgg+ stage: "
            f"{'; '.join(result.failed) or 'see the log'})"
        )
    mean_reply = Message(
        RecordDict({"arrays": _to_record(result.mean), "metrics": MetricRecord({"num-examples": 1})}),
        reply_to=messages[0],
    )
    aggregated, _ = strategy.aggregate_train(server_round, [mean_reply])
    if aggregated is not None:
        current = {name: aggregated[name].numpy() for name in names}
    record = RoundRecord(
        round=server_round,
        sites=result.sites if aggregated is not None else [],
        failed=result.failed,
        aggregated=aggregated is not None,
        metrics=result.metrics,
        bytes_uploaded=result.bytes_uploaded,
        checkpoint="",
        checkpoint_sha256="",
    )
    return current, record


@dataclass
class _ReplySummary:
    uploads: list[tuple[str, Message]]
    metrics: dict[str, dict[str, float]]
    bytes_uploaded: dict[str, int]
    failed: list[str]


def _summarise(replies: Iterable[Message]) -> _ReplySummary:
    summary = _ReplySummary([], {}, {}, [])
    for reply in replies:
        if reply.has_error():
            summary.failed.append(f"node-{reply.metadata.src_node_id}: {reply.error.reason}")
            continue
        site_id = _site_id(reply)
        if site_id in summary.metrics:
            raise TrainingError(f"two nodes answered as site {site_id!r}; each site must run one SuperNode")
        summary.metrics[site_id] = _numbers(reply)
        arrays = reply.content.array_records.get("arrays")
        flag = summary.metrics[site_id].get("uploaded", 1.0)
        uploaded = flag > 0 and arrays is not None and len(arrays) > 0
        summary.bytes_uploaded[site_id] = arrays.count_bytes() if uploaded and arrays is not None else 0
        if uploaded:
            summary.uploads.append((site_id, reply))
    return summary


def _evaluate_at_sites(grid: Grid, config: TrainingSettings, current: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    from flwr.app import ConfigRecord, Message, MessageType, RecordDict

    sent = _to_record(current)
    instruction = ConfigRecord({INSTRUCTION_CONFIG_KEY: instruction_json(config)})
    messages = [
        Message(
            RecordDict({"arrays": sent, "config": instruction}),
            dst_node_id=node_id,
            message_type=MessageType.EVALUATE,
        )
        for node_id in grid.get_node_ids()
    ]
    results: dict[str, dict[str, float]] = {}
    for reply in grid.send_and_receive(messages, timeout=config.round_timeout_s):
        if not reply.has_error():
            results[_site_id(reply)] = _numbers(reply)
    return results


def _numbers(reply: Message) -> dict[str, float]:
    """The reply's scalar metrics as floats (list-valued metrics are left out)."""
    metrics = reply.content.metric_records.get("metrics")
    if metrics is None:
        return {}
    return {key: float(value) for key, value in metrics.items() if isinstance(value, int | float)}


def _site_id(reply: Message) -> str:
    site = reply.content.config_records.get("site")
    site_id = site.get("site-id") if site is not None else None
    if not isinstance(site_id, str):
        raise TrainingError(f"node {reply.metadata.src_node_id} replied without a site id; is it rag-fed's?")
    return site_id


def _to_record(arrays: Mapping[str, Any]) -> ArrayRecord:
    from flwr.app import Array, ArrayRecord

    return ArrayRecord({name: Array(value) for name, value in arrays.items()})
