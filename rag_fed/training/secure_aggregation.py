"""The coordinator's side of a round under secure aggregation: Flower's own SecAgg+ protocol.

Flower 1.41 ships SecAgg+ only on its legacy path: ``SecAggPlusWorkflow`` takes a ``LegacyContext``
whose legacy ``Strategy`` makes the ``FitIns`` and receives the ``FitRes`` list. This module supplies
that glue for one round: :class:`_OneRoundStrategy` sends our instruction (global weights + the
run's :class:`TrainingSettings`) to the sites the Message-API strategy sampled, the workflow runs the
four SecAgg+ stages (setup, share keys, collect masked vectors, unmask), and what comes back is only
the *mean* of the sites' weights, never one site's. That mean is then handed to the Message-API
strategy as a single reply, so FedAvg/FedProx keep it and FedAdam applies its server optimiser to it.

The coordinator still learns, in the clear, which sites took part and their scalar metrics
(validation MRR, loss, seconds): the ledger and unlearning need the first, operators the second.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from rag_fed.config import TrainingSettings
from rag_fed.errors import TrainingError
from rag_fed.training.instruction import INSTRUCTION_CONFIG_KEY, instruction_json

if TYPE_CHECKING:
    from flwr.app import Message
    from flwr.serverapp import Grid

__all__ = ["SecureRoundResult", "run_secure_round"]


@dataclass
class SecureRoundResult:
    """The securely aggregated mean weights (``None`` if the protocol halted) and what was seen."""

    mean: dict[str, NDArray[Any]] | None
    sites: list[str]
    metrics: dict[str, dict[str, float]]
    bytes_uploaded: dict[str, int]
    failed: list[str] = field(default_factory=list)


def run_secure_round(
    grid: Grid,
    server_round: int,
    node_ids: Iterable[int],
    config: TrainingSettings,
    names: list[str],
    current: Mapping[str, NDArray[Any]],
    options: Mapping[str, float | int],
) -> SecureRoundResult:
    """Run one SecAgg+ training round with ``node_ids``; returns the mean of their weights."""
    from flwr.app import ConfigRecord, Context, RecordDict
    from flwr.common import ndarrays_to_parameters
    from flwr.server import LegacyContext, ServerConfig
    from flwr.server.workflow import SecAggPlusWorkflow
    from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key

    nodes = sorted(set(node_ids))
    if len(nodes) < 3:
        # Flower's SecAgg+ needs at least 2 sampled nodes; with 2, each site could subtract its own
        # update from the sum and read the other's, so we ask for 3.
        raise TrainingError(f"secure aggregation needs at least 3 sites per round, got {len(nodes)}")
    counting = _CountingGrid(grid)
    counted = cast("Grid", counting)
    parameters = ndarrays_to_parameters([np.asarray(current[name]) for name in names])
    fit_config: dict[str, Any] = {
        INSTRUCTION_CONFIG_KEY: instruction_json(config),
        "server-round": server_round,
        **options,
    }
    strategy = _one_round_strategy(counted, nodes, fit_config)
    context = Context(run_id=_run_id(grid), node_id=0, node_config={}, state=RecordDict(), run_config={})
    context.state[MAIN_CONFIGS_RECORD] = ConfigRecord({Key.CURRENT_ROUND: server_round})
    context.state[MAIN_PARAMS_RECORD] = _parameters_record(parameters)
    legacy = LegacyContext(context, config=ServerConfig(num_rounds=1), strategy=strategy)
    secagg = config.secagg
    workflow = SecAggPlusWorkflow(
        num_shares=secagg.num_shares,
        reconstruction_threshold=secagg.reconstruction_threshold,
        max_weight=1.0,
        clipping_range=secagg.clipping_range,
        quantization_range=secagg.quantization_range,
        modulus_range=secagg.modulus_range,
        timeout=config.round_timeout_s,
    )
    workflow(counted, legacy)
    aggregated = strategy.aggregated  # type: ignore[attr-defined]
    contributors = sorted(counting.site_of[node] for node in strategy.contributors)  # type: ignore[attr-defined]
    mean = None
    if aggregated is not None:
        from flwr.common import parameters_to_ndarrays

        mean = dict(zip(names, parameters_to_ndarrays(aggregated), strict=True))
    failed = [f"node-{node}: no reply in some SecAgg+ stage" for node in nodes if node not in counting.site_of]
    return SecureRoundResult(
        mean=mean,
        sites=contributors,
        metrics=counting.metrics,
        bytes_uploaded={counting.site_of.get(node, f"node-{node}"): n for node, n in counting.bytes_by_node.items()},
        failed=failed,
    )


def _one_round_strategy(grid: Grid, nodes: list[int], fit_config: Mapping[str, Any]) -> Any:
    """A legacy ``Strategy`` that asks exactly ``nodes`` and keeps the securely aggregated result."""
    from flwr.common import FitIns, Parameters
    from flwr.server.compat.grid_client_proxy import GridClientProxy
    from flwr.server.strategy import Strategy

    class _OneRoundStrategy(Strategy):
        def __init__(self) -> None:
            self.aggregated: Parameters | None = None
            self.contributors: list[int] = []

        def initialize_parameters(self, client_manager: Any) -> Parameters | None:
            return None

        def configure_fit(self, server_round: int, parameters: Parameters, client_manager: Any) -> list[Any]:
            run_id = _run_id(grid)
            return [
                (GridClientProxy(node_id=node, grid=grid, run_id=run_id), FitIns(parameters, dict(fit_config)))
                for node in nodes
            ]

        def aggregate_fit(
            self, server_round: int, results: list[Any], failures: list[Any]
        ) -> tuple[Any, dict[str, Any]]:
            # SecAgg+ has already put the unmasked mean into every result's parameters.
            self.contributors = [int(proxy.node_id) for proxy, _ in results]
            self.aggregated = results[0][1].parameters if results else None
            return self.aggregated, {}

        def configure_evaluate(self, server_round: int, parameters: Parameters, client_manager: Any) -> list[Any]:
            return []

        def aggregate_evaluate(
            self, server_round: int, results: list[Any], failures: list[Any]
        ) -> tuple[Any, dict[str, Any]]:
            return None, {}

        def evaluate(self, server_round: int, parameters: Parameters) -> None:
            return None

    return _OneRoundStrategy()


class _CountingGrid:
    """The grid as the workflow sees it, counting each node's reply bytes over all four stages and
    noting the site id and metrics a node states in its masked-vector reply."""

    def __init__(self, grid: Grid) -> None:
        self._grid = grid
        self.bytes_by_node: dict[int, int] = {}
        self.site_of: dict[int, str] = {}
        self.metrics: dict[str, dict[str, float]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        for reply in replies:
            if reply.has_error():
                continue
            node = int(reply.metadata.src_node_id)
            self.bytes_by_node[node] = self.bytes_by_node.get(node, 0) + _reply_bytes(reply)
            site = reply.content.config_records.get("site")
            if site is not None and isinstance(site.get("site-id"), str):
                site_id = str(site["site-id"])
                self.site_of[node] = site_id
                metrics = reply.content.metric_records.get("metrics")
                if metrics is not None:
                    self.metrics[site_id] = {
                        key: float(value) for key, value in metrics.items() if isinstance(value, int | float)
                    }
        return replies


def _reply_bytes(reply: Message) -> int:
    content = reply.content
    records: list[Any] = [
        *content.array_records.values(),
        *content.config_records.values(),
        *content.metric_records.values(),
    ]
    return sum(int(record.count_bytes()) for record in records)


def _parameters_record(parameters: Any) -> Any:
    from flwr.compat.common import recorddict_compat

    return recorddict_compat.parameters_to_arrayrecord(parameters, keep_input=True)


def _run_id(grid: Any) -> int:
    run = getattr(grid, "run", None)
    return int(getattr(run, "run_id", 0) or 0)
